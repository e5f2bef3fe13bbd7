"""``BearerAuth``: a ``requests`` auth that adds the token, refreshes ahead of expiry, retries once on 401.

The retry is for the request this auth signed and nothing else: ``requests`` runs response hooks on
every hop of a redirect chain and strips ``Authorization`` when a redirect leaves the host or drops
to plain http. A 401 from such a hop says nothing about our token, and re-adding the header there
would hand the token to whoever the redirect named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from ._errors import OAuthLoginError

if TYPE_CHECKING:
    from ._client import OAuthClient

__all__ = ["BearerAuth"]

_RETRIED = "_oauth_login_retried"
_BODY_POSITION = "_oauth_login_body_position"
# Where and with what header this auth signed a request. ``PreparedRequest.copy()`` (used by
# requests for each redirect hop) does not carry it over, so a redirected request is never "ours".
_SIGNED = "_oauth_login_signed"


def _origin(url: str | None) -> tuple[str, str]:
    parts = urlsplit(url or "")
    return parts.scheme.lower(), parts.netloc.lower()


class BearerAuth(AuthBase):
    def __init__(self, client: OAuthClient) -> None:
        self.client = client

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.client.get_token()
        r.headers["Authorization"] = f"Bearer {token}"
        setattr(r, _SIGNED, (_origin(r.url), r.headers["Authorization"]))
        try:
            # Remember where a file-like body starts so the retry sends it whole (as requests' digest auth).
            position = r.body.tell() if hasattr(r.body, "tell") else None  # type: ignore[union-attr]
        except OSError:
            position = None
        setattr(r, _BODY_POSITION, position)
        r.register_hook("response", self._handle_401)  # type: ignore[no-untyped-call]
        return r

    def _handle_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, _RETRIED, False) or not self._signed(request):
            return response
        failed = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        try:
            token = self.client.refresh(force=True, failed_token=failed).access_token
        except OAuthLoginError:
            return response  # the caller sees the 401; the client's status says why
        position = getattr(request, _BODY_POSITION, None)
        if position is not None and hasattr(request.body, "seek"):
            request.body.seek(position)  # type: ignore[union-attr]
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        retry = request.copy()
        setattr(retry, _RETRIED, True)
        retry.headers["Authorization"] = f"Bearer {token}"
        assert response.connection is not None
        again: requests.Response = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again

    @staticmethod
    def _signed(request: requests.PreparedRequest) -> bool:
        """Whether this auth signed ``request`` itself: same scheme and host, our header still on it."""
        signed: tuple[tuple[str, str], str] | None = getattr(request, _SIGNED, None)
        if signed is None:
            return False  # a redirect hop (or a request someone else built): not ours to retry
        origin, header = signed
        return origin == _origin(request.url) and request.headers.get("Authorization") == header

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BearerAuth) and other.client is self.client

    __hash__ = AuthBase.__hash__

    def __repr__(self) -> str:
        return f"BearerAuth(profile={self.client.profile.name!r})"
