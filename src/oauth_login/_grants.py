"""Pure request builders and response parsers for the grants we use (RFC 6749, 7636, 7009, 8628).

Builders return a ``PreparedRequest`` (URL, headers, form body) and do no I/O; parsers turn a
response into a ``TokenResponse`` or raise the matching ``OAuthError``. Each request carries only
the parameters its grant needs.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ._errors import OAuthError, TransportError, oauth_error_from_response
from ._transport import HTTPResponse

__all__ = [
    "DEVICE_CODE_GRANT",
    "ClientAuth",
    "DeviceAuthorization",
    "PreparedRequest",
    "TokenResponse",
    "authorization_url",
    "code_grant",
    "device_authorization_request",
    "device_token_request",
    "nonce_sent",
    "parse_device_authorization",
    "parse_token_response",
    "refresh_grant",
    "revocation_request",
]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


@dataclass(frozen=True)
class ClientAuth:
    """How the client authenticates at the token endpoint: public (``client_id`` only) or with a secret."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    method: str = "auto"  # auto | none | client_secret_basic | client_secret_post

    def apply(self, headers: dict[str, str], body: dict[str, str]) -> None:
        method = self.method
        if method == "auto":
            method = "client_secret_basic" if self.client_secret else "none"
        if method == "client_secret_basic" and self.client_secret:
            # RFC 6749 2.3.1: form-urlencode each part before base64.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
            return
        body["client_id"] = self.client_id
        if method == "client_secret_post" and self.client_secret:
            body["client_secret"] = self.client_secret


@dataclass(frozen=True)
class PreparedRequest:
    url: str
    headers: Mapping[str, str] = field(repr=False)  # may hold "Authorization: Basic <id:secret>"
    body: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True, repr=False)
class TokenResponse:
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a token type name, not a secret
    expires_in: float | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str | None = None
    received_at: float = field(default_factory=time.time)

    def __repr__(self) -> str:
        return (
            f"TokenResponse(token_type={self.token_type!r}, expires_in={self.expires_in}, <tokens redacted>)"
        )


@dataclass(frozen=True, repr=False)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float

    def __repr__(self) -> str:
        return f"DeviceAuthorization(verification_uri={self.verification_uri!r}, <codes redacted>)"


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str | None,
    scope: str,
    state: str,
    code_challenge: str,
    nonce: str | None = None,
    prompt: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The URL that starts an authorization-code + PKCE (S256) request, query response mode.

    ``redirect_uri=None`` leaves it out, for the server relay, which adds the one the browser can reach.
    """
    params: dict[str, str] = {
        "response_type": "code",
        "client_id": client_id,
        "scope": scope,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if redirect_uri is not None:
        params["redirect_uri"] = redirect_uri
    if nonce is not None and nonce_sent(scope):
        params["nonce"] = nonce
    if prompt:
        params["prompt"] = prompt
    for key, value in (extra or {}).items():
        if key != "redirect_uri":
            params.setdefault(key, value)  # extras never override the security parameters
    parts = urlsplit(endpoint)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def nonce_sent(scope: str) -> bool:
    """Whether an authorization request for ``scope`` carries a nonce: only OpenID Connect ones do
    (``openid`` among the scopes), so only then may the ID token be required to carry it back."""
    return "openid" in scope.split()


def _prepare(
    url: str, client: ClientAuth, body: dict[str, str], extra: Mapping[str, str] | None
) -> PreparedRequest:
    headers = dict(_FORM)
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    client.apply(headers, body)
    return PreparedRequest(url, headers, body)


def code_grant(
    token_endpoint: str,
    client: ClientAuth,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    extra: Mapping[str, str] | None = None,
) -> PreparedRequest:
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    return _prepare(token_endpoint, client, body, extra)


def refresh_grant(
    token_endpoint: str,
    client: ClientAuth,
    *,
    refresh_token: str,
    scope: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> PreparedRequest:
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        body["scope"] = scope
    return _prepare(token_endpoint, client, body, extra)


def device_authorization_request(
    endpoint: str, client: ClientAuth, *, scope: str, extra: Mapping[str, str] | None = None
) -> PreparedRequest:
    return _prepare(endpoint, client, {"scope": scope}, extra)


def device_token_request(token_endpoint: str, client: ClientAuth, *, device_code: str) -> PreparedRequest:
    return _prepare(
        token_endpoint, client, {"grant_type": DEVICE_CODE_GRANT, "device_code": device_code}, None
    )


def revocation_request(
    endpoint: str, client: ClientAuth, *, token: str, token_type_hint: str | None = None
) -> PreparedRequest:
    body = {"token": token}
    if token_type_hint:
        body["token_type_hint"] = token_type_hint
    return _prepare(endpoint, client, body, None)


def raise_for_error(response: HTTPResponse, what: str) -> Mapping[str, Any]:
    """The JSON object of a 2xx answer; otherwise the matching typed error."""
    doc = response.json()
    if response.status >= 500 or response.status in (408, 429):
        # Retryable whatever the body says (some servers wrap a 5xx in {"error": "server_error"}).
        raise TransportError(f"the {what} answered HTTP {response.status}")
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        # Checked before the status: GitHub answers errors such as authorization_pending with 200.
        description = doc.get("error_description")
        uri = doc.get("error_uri")
        raise oauth_error_from_response(
            doc["error"],
            description if isinstance(description, str) else None,
            error_uri=uri if isinstance(uri, str) else None,
            status=response.status,
        )
    if 200 <= response.status < 300:
        if isinstance(doc, dict):
            return doc
        raise OAuthError(
            "invalid_response", f"the {what} did not answer with a JSON object", status=response.status
        )
    raise OAuthError(
        "invalid_response",
        f"the {what} answered HTTP {response.status} without an OAuth error",
        status=response.status,
    )


def parse_token_response(response: HTTPResponse) -> TokenResponse:
    doc = raise_for_error(response, "token endpoint")
    access_token = doc.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("invalid_response", "the token response has no access_token")
    token_type = doc.get("token_type", "Bearer")
    expires_in = doc.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)  # some providers send a string
    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool) or expires_in < 0:
        expires_in = None

    def optional(name: str) -> str | None:
        value = doc.get(name)
        return value if isinstance(value, str) and value else None

    return TokenResponse(
        access_token=access_token,
        token_type=token_type if isinstance(token_type, str) else "Bearer",
        expires_in=float(expires_in) if expires_in is not None else None,
        refresh_token=optional("refresh_token"),
        id_token=optional("id_token"),
        scope=optional("scope"),
    )


def parse_device_authorization(response: HTTPResponse) -> DeviceAuthorization:
    doc = raise_for_error(response, "device authorization endpoint")
    try:
        device_code = doc["device_code"]
        user_code = doc["user_code"]
        verification_uri = doc.get("verification_uri") or doc["verification_url"]  # Google says _url
        expires_in = float(doc["expires_in"])
        interval = float(doc.get("interval", 5))
    except (KeyError, TypeError, ValueError) as exc:
        raise OAuthError("invalid_response", "the device authorization response is incomplete") from exc
    complete = doc.get("verification_uri_complete")
    return DeviceAuthorization(
        device_code=str(device_code),
        user_code=str(user_code),
        verification_uri=str(verification_uri),
        verification_uri_complete=complete if isinstance(complete, str) else None,
        expires_in=expires_in,
        interval=max(interval, 1.0),
    )
