"""Provider metadata: OpenID Connect Discovery, falling back to RFC 8414 authorization server metadata."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._errors import DiscoveryError, TransportError
from ._transport import HTTPRequest
from ._urls import is_loopback_host, link_problem

__all__ = ["ProviderMetadata", "discover", "metadata_urls"]

_CACHE_SECONDS = 3600.0
_cache: dict[tuple[str, object], tuple[float, ProviderMetadata]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    device_authorization_endpoint: str | None = None
    revocation_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    code_challenge_methods_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    authorization_response_iss_parameter_supported: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ProviderMetadata:
        def text(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value else None

        def texts(name: str) -> tuple[str, ...]:
            value = doc.get(name)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

        issuer = text("issuer")
        if issuer is None:
            raise DiscoveryError("the provider metadata has no 'issuer'")
        return cls(
            issuer=issuer,
            authorization_endpoint=text("authorization_endpoint"),
            token_endpoint=text("token_endpoint"),
            device_authorization_endpoint=text("device_authorization_endpoint"),
            revocation_endpoint=text("revocation_endpoint"),
            userinfo_endpoint=text("userinfo_endpoint"),
            end_session_endpoint=text("end_session_endpoint"),
            code_challenge_methods_supported=texts("code_challenge_methods_supported"),
            # RFC 8414: when absent, the default is authorization_code and implicit.
            grant_types_supported=texts("grant_types_supported") or ("authorization_code", "implicit"),
            token_endpoint_auth_methods_supported=texts("token_endpoint_auth_methods_supported"),
            authorization_response_iss_parameter_supported=doc.get(
                "authorization_response_iss_parameter_supported"
            )
            is True,
            raw=dict(doc),
        )

    @property
    def supports_device_flow(self) -> bool:
        return self.device_authorization_endpoint is not None

    def require(self, endpoint: str) -> str:
        """The URL of ``endpoint`` (e.g. ``"token_endpoint"``), or a DiscoveryError naming it."""
        value = getattr(self, endpoint, None)
        if not isinstance(value, str):
            raise DiscoveryError(
                f"the provider at {self.issuer} does not advertise a {endpoint}",
                hint="this provider cannot do that; choose another mode or provider",
            )
        return value


def metadata_urls(issuer: str) -> list[str]:
    """Where to look, in order: OIDC Discovery, then RFC 8414 (path inserted after the host)."""
    base = issuer.rstrip("/")
    parts = urlsplit(base)
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + parts.path, "", "")
    )
    return [base + "/.well-known/openid-configuration", rfc8414]


def _check_issuer_url(issuer: str) -> None:
    parts = urlsplit(issuer)
    # Plain http only for a provider on this computer (a development provider); never over a network.
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or ""))
    if not secure or not parts.netloc:
        raise DiscoveryError(
            f"the issuer must be an https:// URL (got {issuer!r})",
            hint="pass --issuer https://your-provider.example.com",
        )
    if parts.query or parts.fragment:
        raise DiscoveryError(f"the issuer URL must have no query or fragment (got {issuer!r})")


# Endpoints the client sends secrets to or opens in the browser.
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "end_session_endpoint",
)


def _check_endpoints(metadata: ProviderMetadata) -> None:
    # An https issuer whose document names http endpoints would send codes and tokens in clear.
    for name in _ENDPOINTS:
        url = getattr(metadata, name)
        problem = link_problem(url) if url is not None else None
        if problem is not None:
            raise DiscoveryError(
                f"the provider's {name} {url!r} is refused: {problem}",
                hint="ask the provider's administrator to publish https:// endpoints",
            )


def _cache_key(issuer: str, request: HTTPRequest) -> tuple[str, object]:
    # What the fetch depended on besides the issuer: a document fetched with TLS checks off must
    # never be handed to a client that checks them (RequestsTransport names its TLS settings; any
    # other callable is its own key).
    return issuer.rstrip("/"), getattr(request, "cache_key", request)


def discover(issuer: str, request: HTTPRequest, *, use_cache: bool = True) -> ProviderMetadata:
    """Fetch and check the metadata of ``issuer`` (cached in this process for an hour).

    The cache is per issuer *and* per way of fetching (``verify``, the caller's session).
    """
    _check_issuer_url(issuer)
    key = issuer.rstrip("/")
    cache_key = _cache_key(issuer, request)
    now = time.monotonic()
    if use_cache:
        with _cache_lock:
            hit = _cache.get(cache_key)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
    statuses = []
    for url in metadata_urls(issuer):
        response = request("GET", url, headers={"Accept": "application/json"})
        statuses.append(f"{response.status} from {urlsplit(url).path}")
        if response.status >= 500 or response.status in (408, 429):
            raise TransportError(f"the provider's metadata endpoint answered HTTP {response.status}")
        if response.status != 200:
            continue
        doc = response.json()
        if not isinstance(doc, dict):
            raise DiscoveryError(f"the provider metadata at {url} is not a JSON object")
        metadata = ProviderMetadata.from_dict(doc)
        # OIDC Discovery 4.3 / RFC 8414 3.3: the document must name the issuer we asked for.
        if metadata.issuer.rstrip("/") != key:
            raise DiscoveryError(
                f"the provider says its issuer is {metadata.issuer!r}, not {issuer!r}",
                hint=f"use --issuer {metadata.issuer}",
            )
        _check_endpoints(metadata)
        with _cache_lock:
            _cache[cache_key] = (now, metadata)
        return metadata
    raise DiscoveryError(f"no provider metadata for {issuer} ({'; '.join(statuses)})")


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
