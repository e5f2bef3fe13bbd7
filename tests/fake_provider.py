"""A fake OAuth provider behind the transport seam, for fast unit tests of the client."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from urllib.parse import urlsplit

from oauth_login._transport import HTTPResponse

ISSUER = "https://idp.test"


def make_id_token(claims: Mapping[str, object]) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'none'})}.{seg(dict(claims))}.sig"


class FakeProvider:
    """Serves discovery, the token endpoint (refresh grant, rotating), device flow and revocation."""

    def __init__(self, *, expires_in: int = 3600, rotate: bool = True, return_refresh: bool = True) -> None:
        self.expires_in = expires_in
        self.rotate = rotate
        self.return_refresh = return_refresh
        self.requests: Counter[str] = Counter()
        self.bodies: list[dict[str, str]] = []
        self.valid_refresh: set[str] = set()
        self.revoked: list[str] = []
        self.refresh_delay = 0.0
        self.fail_next: list[HTTPResponse] = []  # queued answers for the token endpoint
        self.device_answers: list[str] = []  # queued device-poll errors, then success
        self.lock = threading.Lock()

    def new_refresh_token(self) -> str:
        token = "rt-" + secrets.token_hex(8)
        self.valid_refresh.add(token)
        return token

    def _tokens(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "access_token": "at-" + secrets.token_hex(8),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.return_refresh:
            doc["refresh_token"] = self.new_refresh_token()
        return doc

    def metadata(self) -> dict[str, object]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "device_authorization_endpoint": f"{ISSUER}/device",
            "revocation_endpoint": f"{ISSUER}/revoke",
            "authorization_response_iss_parameter_supported": True,
        }

    def __call__(self, method, url, *, headers=None, data=None):
        path = urlsplit(url).path
        body = dict(data or {})
        with self.lock:
            self.requests[path + (":" + body["grant_type"] if "grant_type" in body else "")] += 1
            self.bodies.append(body)
        if path == "/.well-known/openid-configuration":
            return self._json(200, self.metadata())
        if path == "/token":
            return self._token(body)
        if path == "/device":
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

    def _token(self, body: dict[str, str]) -> HTTPResponse:
        if self.fail_next:
            return self.fail_next.pop(0)
        grant = body.get("grant_type")
        if grant == "refresh_token":
            if self.refresh_delay:
                time.sleep(self.refresh_delay)  # a slow provider, so racing threads really overlap
            with self.lock:
                token = body.get("refresh_token")
                if token not in self.valid_refresh:
                    return self._json(
                        400, {"error": "invalid_grant", "error_description": "grant request is invalid"}
                    )
                if self.rotate:
                    self.valid_refresh.discard(token)
            doc = self._tokens()
            if not self.rotate:
                doc.pop("refresh_token", None)
            return self._json(200, doc)
        if grant == "authorization_code":
            if not body.get("code_verifier") or not body.get("code"):
                return self._json(400, {"error": "invalid_grant"})
            return self._json(200, self._tokens())
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if self.device_answers:
                return self._json(400, {"error": self.device_answers.pop(0)})
            return self._json(200, self._tokens())
        return self._json(400, {"error": "unsupported_grant_type"})

    @staticmethod
    def _json(status: int, doc: object) -> HTTPResponse:
        return HTTPResponse(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})
