"""The one place that does HTTP: a small callable the rest of the core is given, so tests can fake it."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ._errors import ConfigurationError, TransportError

if TYPE_CHECKING:
    import requests

__all__ = [
    "HTTPRequest",
    "HTTPResponse",
    "InsecureTransportWarning",
    "RequestsTransport",
    "check_verify",
]

logger = logging.getLogger("oauth_login")


@dataclass(frozen=True)
class HTTPResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON (error pages, proxies)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def __repr__(self) -> str:  # the body may hold tokens
        return f"HTTPResponse(status={self.status}, body=<{len(self.body)} bytes>)"


class HTTPRequest(Protocol):
    """Send one request and return the answer; raise ``TransportError`` when there is none."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> HTTPResponse: ...


class InsecureTransportWarning(UserWarning):
    """TLS certificate checks are turned off."""


def check_verify(value: object, *, setting: str = "verify") -> None:
    """Refuse a ``verify`` that is neither a bool nor a CA bundle path.

    ``requests`` treats any false value as "no TLS checks": ``verify = 0`` or ``""`` in a profile
    would turn them off without our warning (which is given for ``False`` only).
    """
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return
    raise ConfigurationError(
        f"{setting} must be true, false or the path of a CA bundle (got {value!r})",
        hint=f"set {setting} to true, false or the path of a CA bundle file",
    )


class RequestsTransport:
    """``HTTPRequest`` over a ``requests.Session`` (imported on first use, not at import time)."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        verify: bool | str | None = True,
        timeout: float = 30.0,
    ) -> None:
        """``verify=None`` defers to ``session.verify`` (a caller's CA bundle stays in force)."""
        if verify is not None:
            check_verify(verify)
        if verify is False:
            warnings.warn(
                "TLS certificate verification is OFF (verify=False): anyone on the network path can "
                "read and replace your tokens. Use a CA bundle path instead.",
                InsecureTransportWarning,
                stacklevel=3,
            )
        self._session = session
        self._callers_session = session is not None
        self.verify: bool | str | None = verify
        self.timeout = timeout

    def _get_session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    @property
    def cache_key(self) -> tuple[object, ...]:
        """What a fetch through this transport depends on, for caches of fetched documents."""
        if not self._callers_session or self._session is None:
            return ("requests", self.verify)  # our own plain session: only verify differs
        verify = self.verify if self.verify is not None else self._session.verify
        return ("requests", verify, id(self._session))  # the caller's adapters, proxies, certs

    def __call__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> HTTPResponse:
        import requests

        session = self._get_session()
        host = urlsplit(url).netloc
        try:
            resp = session.request(
                method,
                url,
                headers=dict(headers or {}),
                data=dict(data) if data is not None else None,
                timeout=self.timeout,
                verify=self.verify if self.verify is not None else session.verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # requests' own message can echo the URL and is long; ours names only the host.
            raise TransportError(f"could not reach {host}: {type(exc).__name__}") from exc
        logger.debug("%s %s%s -> %s", method, host, urlsplit(url).path, resp.status_code)
        return HTTPResponse(resp.status_code, resp.content, dict(resp.headers))

    def __repr__(self) -> str:
        return f"RequestsTransport(verify={self.verify!r}, timeout={self.timeout})"
