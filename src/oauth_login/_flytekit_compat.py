"""Helpers behind ``oauth_login.auth_client``: flytekit-style settings mapped onto the core's PKCE flow.

Pure functions (parameter filtering, the caller's PKCE pair, tokens → ``Credentials``) plus the one
piece of I/O glue: a loopback receiver that checks ``state`` without knowing the issuer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import _pages
from ._credentials import Credentials
from ._errors import ConfigurationError, IDTokenError
from ._grants import TokenResponse
from ._id_token import check_id_token, decode_payload, display_claims
from ._loopback import LoopbackReceiver
from ._pkce import constant_time_equal, s256_challenge

__all__ = [
    "AUTHORIZATION_REQUEST_PARAMS",
    "DEFAULT_LOGIN_TIMEOUT",
    "PKCEPair",
    "authorization_extras",
    "caller_pkce_pair",
    "credentials_from",
    "open_receiver",
    "refresh_extras",
    "signed_in_page",
    "string_params",
    "token_extras",
]

# Long enough to type a password and pass MFA, short enough that a forgotten tab frees its port.
DEFAULT_LOGIN_TIMEOUT = 300.0

# Parameters of the authorization request only (RFC 6749 4.1.1, RFC 7636 4.3, OIDC Core 3.1.2.1):
# copying them into a token request (as flytekit does) leaks the state and says nothing useful.
AUTHORIZATION_REQUEST_PARAMS = frozenset(
    {
        "response_type",
        "response_mode",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "display",
        "login_hint",
        "id_token_hint",
        "acr_values",
        "ui_locales",
        "claims_locales",
        "claims",
        "request",
        "request_uri",
        "registration",
    }
)
# What the grants themselves set; a caller's extra never replaces one of them.
_GRANT_PARAMS = frozenset(
    {"grant_type", "code", "redirect_uri", "client_id", "code_verifier", "refresh_token", "device_code"}
)
# RFC 7636 4.1: 43 to 128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def string_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """A copy with ``None`` values dropped (flytekit's own dicts hold ``client_id: None``)."""
    return {str(key): str(value) for key, value in (params or {}).items() if value is not None}


def _without(params: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    drop = set(names)
    return {key: value for key, value in params.items() if key not in drop}


@dataclass(frozen=True, repr=False)
class PKCEPair:
    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "PKCEPair(<redacted>)"


def caller_pkce_pair(auth_params: Mapping[str, str], token_params: Mapping[str, str]) -> PKCEPair | None:
    """The caller's own ``code_challenge``/``code_verifier`` pair, checked (flytekit's PKCEAuthenticator).

    ``None`` when the caller gave neither: then every sign-in makes a fresh pair. A challenge is never
    sent without the verifier that proves it, so a lone challenge is refused; a lone verifier gets
    its S256 challenge computed.
    """
    challenge = auth_params.get("code_challenge")
    method = auth_params.get("code_challenge_method")
    verifier = token_params.get("code_verifier")
    if method is not None and method != "S256":
        raise ConfigurationError(
            f"code_challenge_method {method!r} is not supported",
            hint="use S256 (RFC 7636), or leave PKCE to oauth-login",
        )
    if challenge is None and verifier is None:
        return None
    if verifier is None:
        raise ConfigurationError(
            "request_auth_code_params has a code_challenge, "
            "but request_access_token_params has no code_verifier",
            hint="pass both, or neither and let oauth-login make a fresh pair for every sign-in",
        )
    if not _VERIFIER.fullmatch(verifier):
        raise ConfigurationError(
            "the code_verifier must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (RFC 7636)"
        )
    expected = s256_challenge(verifier)
    if challenge is not None and not constant_time_equal(expected, challenge):
        raise ConfigurationError(
            "the code_challenge is not the S256 hash of the code_verifier",
            hint="pass a matching pair, or neither and let oauth-login make one",
        )
    return PKCEPair(verifier, expected)


def authorization_extras(auth_params: Mapping[str, str], audience: str | None) -> dict[str, str]:
    """The caller's extra authorization-request parameters; ``state``, PKCE and nonce are always ours."""
    extra = {"audience": audience} if audience else {}
    extra.update(auth_params)
    return _without(
        extra,
        (
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
        ),
    )


def token_extras(
    auth_params: Mapping[str, str],
    token_params: Mapping[str, str],
    audience: str | None,
    *,
    copy_auth_params: bool,
) -> dict[str, str]:
    """Extra parameters for the code exchange: only the caller's non-standard ones (``audience``, ...).

    With ``copy_auth_params`` (flytekit's ``add_request_auth_code_params_to_request_access_token_params``)
    the caller's extra authorization parameters are copied, never the authorization request's own.
    """
    extra: dict[str, str] = {}
    if copy_auth_params:
        if audience:
            extra["audience"] = audience
        extra.update(auth_params)
    extra.update(token_params)
    return _without(extra, AUTHORIZATION_REQUEST_PARAMS | _GRANT_PARAMS)


def refresh_extras(refresh_params: Mapping[str, str]) -> dict[str, str]:
    """Extra parameters for a refresh; ``scope`` may narrow the grant there (RFC 6749 6)."""
    return _without(refresh_params, (AUTHORIZATION_REQUEST_PARAMS - {"scope"}) | _GRANT_PARAMS)


def signed_in_page(endpoint: str) -> bytes:
    return _pages.page(
        "Signed in",
        f"You are signed in to {endpoint}. You can close this tab and return to your program.",
        ok=True,
    )


def _loopback_address(redirect_uri: str | None) -> tuple[str, int, str]:
    if not redirect_uri:
        return "127.0.0.1", 0, "/callback"
    parts = urlsplit(redirect_uri)
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"the redirect URI {redirect_uri!r} has an invalid port") from exc
    if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(
            f"the redirect URI must look like http://localhost:<port>/callback (got {redirect_uri!r})",
            hint="use an http:// loopback redirect URI without query or fragment (RFC 8252 7.3)",
        )
    # No port: any free one. RFC 8252 7.3 lets native clients use any loopback port.
    return parts.hostname, port or 0, parts.path or "/"


def open_receiver(
    redirect_uri: str | None, *, success_html: bytes, failure_html: bytes | None
) -> LoopbackReceiver:
    """A receiver listening at the host, port and path of ``redirect_uri`` (loopback only)."""
    host, port, path = _loopback_address(redirect_uri)
    try:
        return LoopbackReceiver(
            host=host, port=port, path=path, success_html=success_html, failure_html=failure_html
        )
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {host}:{port} for the sign-in redirect ({exc.strerror or type(exc).__name__})",
            hint="close the program that holds this port, or use a redirect URI without a port",
        ) from exc


def _checked_claims(
    id_token: str, *, client_id: str, nonce: str | None, subject: str | None
) -> dict[str, str]:
    issuer = decode_payload(id_token).get("iss")
    if not isinstance(issuer, str):
        raise IDTokenError("the ID token has no 'iss'")
    # The issuer is not configured here (flytekit names endpoints); the token came straight from the
    # configured token endpoint, so its own `iss` is taken and aud, exp and nonce are checked.
    claims = check_id_token(
        id_token, issuer=issuer, client_id=client_id, now=time.time(), nonce=nonce, subject=subject
    )
    return display_claims(claims)


def credentials_from(
    tokens: TokenResponse,
    *,
    for_endpoint: str,
    client_id: str,
    requested_scopes: Iterable[str],
    nonce: str | None = None,
    previous: Any = None,
) -> Credentials:
    """``Credentials`` from a token response; after a refresh, what the provider left out is kept.

    ``previous`` may be our ``Credentials`` or flytekit's (same attribute names).
    """
    old_claims: Mapping[str, str] = getattr(previous, "claims", None) or {}
    claims = dict(old_claims)
    if tokens.id_token:
        claims = _checked_claims(
            tokens.id_token, client_id=client_id, nonce=nonce, subject=old_claims.get("sub") or None
        )
    old_scopes = getattr(previous, "scopes", None)
    return Credentials(
        tokens.access_token,
        tokens.refresh_token or getattr(previous, "refresh_token", None),  # keep the old one
        for_endpoint,
        id_token=tokens.id_token or getattr(previous, "id_token", None),
        expires_in=tokens.expires_in,
        issued_at=tokens.received_at,
        scopes=tokens.scope or old_scopes or tuple(requested_scopes),
        claims=claims,
        token_type=tokens.token_type,
    )
