"""A fake OAuth provider behind the transport seam, for fast unit tests of the client.

It is strict where a real provider is, so that the client's wiring is tested, not just its happy path:

- ``authorize(url)`` plays the provider's authorization endpoint (the browser's half): it checks the
  request and answers with the redirect back, carrying a code bound to the client, the redirect URI,
  the PKCE S256 challenge and the nonce;
- the token endpoint accepts a code once, only from that client with that redirect URI and a
  verifier whose S256 hash is the challenge, and answers with an ID token when ``openid`` was asked
  for (a JWT signed HS256 with ``SIGNING_KEY``: the client does not verify signatures yet, so any
  signature would do; this one is real so a future check has something to verify);
- refresh tokens rotate, and presenting a spent one revokes its whole family (reuse detection,
  as Okta, Auth0, Keycloak and oidc-provider do).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from oauth_login._pkce import s256_challenge
from oauth_login._transport import HTTPResponse

ISSUER = "https://idp.test"
SIGNING_KEY = b"fake-provider-hs256-key"
SUBJECT = "alice"
SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_id_token(claims: Mapping[str, object], key: bytes = SIGNING_KEY) -> str:
    """A compact JWS (HS256) over ``claims``."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(dict(claims)).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    scope: str


@dataclass
class _Grant:
    """What a refresh token family carries forward: whose it is and what it may do."""

    client_id: str | None  # None: a token a test planted, good for any client
    scope: str
    family: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 302 comes back as an HTTPError we read the Location of


# No proxy: the test browser talks to the loopback receiver directly, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


class FakeProvider:
    """Serves discovery, authorization (``authorize``), the token endpoint, device flow and revocation."""

    def __init__(self, *, expires_in: int = 3600, rotate: bool = True, return_refresh: bool = True) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        self.return_refresh = return_refresh
        self.requests: Counter[str] = Counter()
        self.bodies: list[dict[str, str]] = []
        self.valid_refresh: set[str] = set()
        self.spent_refresh: dict[str, str] = {}  # spent token -> its family, for reuse detection
        self.grants: dict[str, _Grant] = {}  # refresh token -> its grant (tokens from a real flow)
        self.revoked: list[str] = []
        self.revoked_families: set[str] = set()
        self.refresh_delay = 0.0
        self.fail_next: list[HTTPResponse | Exception] = []  # queued answers (or raises) for /token
        self.device_answers: list[str] = []  # queued device-poll errors, then success
        self.codes: dict[str, _Code] = {}
        self.token_errors: Counter[str] = Counter()
        self.scopes_supported: tuple[str, ...] | None = SCOPES_SUPPORTED
        self.closed_scopes = False  # True: unknown scopes get invalid_scope (without a description)
        self.id_token_without_openid = False  # some providers send an ID token whatever the scope
        self.id_token_changes: dict[str, object] = {}  # claims to override in every ID token issued
        self.subject = SUBJECT
        self.device_scope = ""
        self.lock = threading.Lock()

    # --- tokens ---------------------------------------------------------------------------------
    def new_refresh_token(self, grant: _Grant | None = None) -> str:
        token = "rt-" + secrets.token_hex(8)
        self.valid_refresh.add(token)
        self.grants[token] = grant or _Grant(None, "", "family-" + secrets.token_hex(4))
        return token

    def id_token(self, client_id: str, *, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": self.subject,
            "aud": client_id,
            "iat": now,
            "exp": now + 3600,
            "email": f"{self.subject}@example.com",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.id_token_changes)
        return make_id_token(claims)

    def _tokens(self, grant: _Grant | None = None, *, nonce: str | None = None) -> dict[str, object]:
        doc: dict[str, object] = {
            "access_token": "at-" + secrets.token_hex(8),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.return_refresh:
            doc["refresh_token"] = self.new_refresh_token(grant)
        if (
            grant is not None
            and grant.client_id
            and ("openid" in grant.scope.split() or self.id_token_without_openid)
        ):
            doc["id_token"] = self.id_token(grant.client_id, nonce=nonce)
        return doc

    # --- the browser's half -----------------------------------------------------------------------
    def authorize(self, url: str) -> str:
        """The provider's answer to ``url`` (its authorization endpoint): the redirect address back.

        Anything wrong with the request raises ``AssertionError``: a real provider would show an
        error page and never redirect, so the test must fail loudly.
        """
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{ISSUER}/auth", (
            "not our authorization endpoint"
        )
        params = dict(parse_qsl(parts.query))
        assert params.get("response_type") == "code"
        assert params.get("code_challenge_method") == "S256"
        challenge = params.get("code_challenge") or ""
        assert len(challenge) == 43, "an S256 challenge is 43 base64url characters"
        assert params.get("state")
        redirect_uri, client_id = params["redirect_uri"], params["client_id"]
        scope = params.get("scope", "")
        back: dict[str, str] = {"state": params["state"], "iss": ISSUER}
        unknown = [s for s in scope.split() if s not in (self.scopes_supported or ())]
        if self.closed_scopes and unknown:
            back["error"] = "invalid_scope"  # and no error_description, as some servers do
        else:
            code = "code-" + secrets.token_urlsafe(16)
            with self.lock:
                self.codes[code] = _Code(client_id, redirect_uri, challenge, params.get("nonce"), scope)
            back["code"] = code
        return f"{redirect_uri}?{urlencode(back)}"

    def browse(self, link: str) -> int:
        """Be the browser: open ``link`` (a start link or the authorization URL), follow it to the
        provider, sign in at once, and load the redirect back. Returns the final HTTP status."""
        for _ in range(5):
            if link.startswith(ISSUER + "/"):
                link = self.authorize(link)
                continue
            try:
                with _OPENER.open(link, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                with exc:
                    location = exc.headers.get("Location")
                    if exc.code in (302, 303, 307) and location:
                        link = location
                        continue
                    return int(exc.code)
        raise AssertionError("too many redirects")

    # --- the transport seam ---------------------------------------------------------------------
    def metadata(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "device_authorization_endpoint": f"{ISSUER}/device",
            "revocation_endpoint": f"{ISSUER}/revoke",
            "authorization_response_iss_parameter_supported": True,
            "code_challenge_methods_supported": ["S256"],
        }
        if self.scopes_supported is not None:
            doc["scopes_supported"] = list(self.scopes_supported)
        return doc

    def __call__(self, method, url, *, headers=None, data=None):
        path = urlsplit(url).path
        body = dict(data or {})
        with self.lock:
            self.requests[path + (":" + body["grant_type"] if "grant_type" in body else "")] += 1
            self.bodies.append(body)
        if path == "/.well-known/openid-configuration":
            return self._json(200, self.metadata())
        if path == "/token":
            return self._token(body, dict(headers or {}))
        if path == "/device":
            self.device_scope = body.get("scope", "")
            return self._json(
                200,
                {
                    "device_code": "dc-secret",
                    "user_code": "ABCD-EFGH",
                    "verification_uri": f"{ISSUER}/activate",
                    "verification_uri_complete": f"{ISSUER}/activate?user_code=ABCD-EFGH",
                    "expires_in": 600,
                    "interval": 5,
                },
            )
        if path == "/revoke":
            self.revoked.append(body.get("token_type_hint", ""))
            return HTTPResponse(200, b"")
        return HTTPResponse(404, b"")

    @staticmethod
    def _client_id(body: dict[str, str], headers: dict[str, str]) -> str | None:
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            return base64.b64decode(basic[6:]).decode().split(":", 1)[0]
        return body.get("client_id")

    def _error(self, error: str, description: str | None = None) -> HTTPResponse:
        self.token_errors[error] += 1
        doc = {"error": error} if description is None else {"error": error, "error_description": description}
        return self._json(400, doc)

    def _token(self, body: dict[str, str], headers: dict[str, str]) -> HTTPResponse:
        if self.fail_next:
            answer = self.fail_next.pop(0)
            if isinstance(answer, Exception):
                raise answer  # e.g. a TransportError: the network failed
            return answer
        grant = body.get("grant_type")
        client_id = self._client_id(body, headers)
        if grant == "refresh_token":
            if self.refresh_delay:
                time.sleep(self.refresh_delay)  # a slow provider, so racing threads really overlap
            with self.lock:
                token = body.get("refresh_token") or ""
                if token not in self.valid_refresh:
                    family = self.spent_refresh.get(token)
                    if family is not None:  # reuse of a spent token: end the whole grant
                        self.revoked_families.add(family)
                        for live, its in list(self.grants.items()):
                            if its.family == family:
                                self.valid_refresh.discard(live)
                    return self._error("invalid_grant", "grant request is invalid")
                its_grant = self.grants.get(token) or _Grant(None, "", "family-" + token)
                if its_grant.client_id is not None and its_grant.client_id != client_id:
                    return self._error("invalid_grant", "the refresh token was issued to another client")
                if self.rotate:
                    self.valid_refresh.discard(token)
                    self.spent_refresh[token] = its_grant.family
            doc = self._tokens(its_grant)
            if not self.rotate:
                refresh = doc.pop("refresh_token", None)
                self.valid_refresh.discard(str(refresh))
            return self._json(200, doc)
        if grant == "authorization_code":
            with self.lock:
                code = self.codes.pop(body.get("code") or "", None)  # single use
            if code is None:
                return self._error("invalid_grant", "unknown or used authorization code")
            if code.client_id != client_id:
                return self._error("invalid_grant", "the code was issued to another client")
            if code.redirect_uri != body.get("redirect_uri"):
                return self._error("invalid_grant", "redirect_uri does not match the authorization request")
            verifier = body.get("code_verifier") or ""
            if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(
                s256_challenge(verifier), code.challenge
            ):
                return self._error("invalid_grant", "PKCE verification failed")
            family = "family-" + secrets.token_hex(4)
            return self._json(200, self._tokens(_Grant(code.client_id, code.scope, family), nonce=code.nonce))
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if self.device_answers:
                return self._json(400, {"error": self.device_answers.pop(0)})
            family = "family-" + secrets.token_hex(4)
            return self._json(200, self._tokens(_Grant(client_id or "", self.device_scope, family)))
        return self._json(400, {"error": "unsupported_grant_type"})

    @staticmethod
    def _json(status: int, doc: object) -> HTTPResponse:
        return HTTPResponse(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})
