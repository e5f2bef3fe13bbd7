"""Refresh against the real provider (oidc-provider rotates refresh tokens and detects their reuse)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from oauth_login import IDTokenError, StorageError
from oauth_login._client import OAuthClient
from oauth_login._profiles import Profile
from oauth_login._stores import FileStore
from oauth_login._transport import HTTPResponse, RequestsTransport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class SaveFailsWhenAsked(FileStore):
    """A real file store whose next save fails, as a locked keyring, a full disk or an entry too big
    for Windows' credential manager do."""

    fail_next_save = False

    def save(self, key: str, entry: dict[str, Any]) -> None:
        if self.fail_next_save:
            self.fail_next_save = False
            raise StorageError("the keyring refused to store the tokens (KeyringLocked)")
        super().save(key, entry)


def userinfo_status(idp, token: str) -> int:
    request = urllib.request.Request(
        idp.discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {token}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_a_failed_save_during_refresh_never_replays_the_spent_refresh_token(idp_env, user, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="oauth_login")
    store = SaveFailsWhenAsked(Path(tmp_path) / "tokens")
    client = OAuthClient(Profile(issuer=idp_env.issuer, client_id="notebook"), store=store)
    signed_in = client.login(timeout=60)
    assert signed_in.refresh_token
    idp_env.reset()

    store.fail_next_save = True
    first = client.refresh(force=True, failed_token=signed_in.access_token)
    assert caplog.text.count("could not be stored") == 1
    assert store.load(client.key)["credentials"]["refresh_token"] == signed_in.refresh_token  # stale

    second = client.refresh(force=True, failed_token=first.access_token)
    stats = idp_env.stats()
    assert stats["token_requests"]["refresh_token"] == 2
    assert stats["token_errors"]["invalid_grant"] == 0, "the rotated-away refresh token was presented"
    assert userinfo_status(idp_env, second.access_token) == 200  # the grant is alive
    assert store.load(client.key)["credentials"]["refresh_token"] == second.refresh_token


class ChangesTheNextIDToken(RequestsTransport):
    """The real transport, but the next token answer's ID token gets another audience, as if the
    provider had issued it to another client."""

    tamper = False

    def __call__(self, method, url, *, headers=None, data=None) -> HTTPResponse:
        response = super().__call__(method, url, headers=headers, data=data)
        if not (self.tamper and data and data.get("grant_type") == "refresh_token"):
            return response
        self.tamper = False
        import base64
        import json

        doc = response.json()
        head, payload, signature = doc["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["aud"] = "another-client"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        doc["id_token"] = f"{head}.{forged}.{signature}"
        return HTTPResponse(response.status, json.dumps(doc).encode(), response.headers)


def test_a_refreshed_id_token_that_fails_its_checks_keeps_the_rotated_refresh_token(idp_env, user, tmp_path):
    transport = ChangesTheNextIDToken()
    client = OAuthClient(
        Profile(issuer=idp_env.issuer, client_id="notebook"),
        store=FileStore(Path(tmp_path) / "tokens"),
        request=transport,
    )
    signed_in = client.login(timeout=60)
    idp_env.reset()
    transport.tamper = True
    with pytest.raises(IDTokenError, match="'aud'"):
        client.refresh(force=True, failed_token=signed_in.access_token)
    again = client.refresh(force=True, failed_token=signed_in.access_token)
    stats = idp_env.stats()
    assert stats["token_requests"]["refresh_token"] == 2
    assert stats["token_errors"]["invalid_grant"] == 0
    assert userinfo_status(idp_env, again.access_token) == 200
