"""OAuthClient against the fake provider: refresh ahead of expiry, single flight, errors, logout."""

from __future__ import annotations

import json
import threading
import time

import pytest

from oauth_login import (
    Credentials,
    InvalidGrantError,
    NotSignedInError,
    OAuthError,
    StorageError,
    TransportError,
)
from oauth_login._client import OAuthClient
from oauth_login._profiles import Profile
from oauth_login._stores import MemoryStore
from oauth_login._transport import HTTPResponse
from tests.fake_provider import ISSUER, FakeProvider


def make_client(provider: FakeProvider, **profile) -> OAuthClient:
    return OAuthClient(
        Profile(issuer=ISSUER, client_id="cli", **profile), store=MemoryStore(), request=provider
    )


def signed_in(client: OAuthClient, provider: FakeProvider, *, expires_in: float) -> Credentials:
    creds = Credentials("at-initial", provider.new_refresh_token(), ISSUER, expires_in=expires_in)
    with client.store.lock(client.key):
        client._save(creds)
    return creds


def test_valid_token_is_served_from_memory_without_requests():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=3600)
    assert client.get_token() == "at-initial"
    assert client.get_token() == "at-initial"
    assert provider.requests["/token:refresh_token"] == 0


def test_token_near_expiry_is_refreshed_ahead_of_time():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=30)  # within the 60 s margin... but a quarter of 30 s is the cap
    client._clock = lambda: time.time() + 25  # 5 s left: past the margin of 7.5 s
    token = client.get_token()
    assert token != "at-initial"
    assert provider.requests["/token:refresh_token"] == 1


def test_fifty_threads_on_an_expired_token_make_one_refresh():
    provider = FakeProvider()
    provider.refresh_delay = 0.05  # keep the first refresh in flight while the others arrive
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    barrier = threading.Barrier(50)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.append(client.get_token())

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert provider.requests["/token:refresh_token"] == 1
    assert len(set(tokens)) == 1 and tokens[0] != "at-initial"


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back():
    provider = FakeProvider(rotate=False)
    client = make_client(provider)
    old = signed_in(client, provider, expires_in=-1)
    client.get_token()
    assert client._creds is not None
    assert client._creds.refresh_token == old.refresh_token
    assert client.store.load(client.key)["credentials"]["refresh_token"] == old.refresh_token


def test_invalid_grant_deletes_the_dead_entry_and_says_sign_in_again():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.valid_refresh.clear()
    with pytest.raises(InvalidGrantError, match="sign in again"):
        client.get_token()
    assert client.store.load(client.key) is None
    assert client.status().state == "error"
    assert "sign in again" in client.status().hint


def test_network_errors_are_retried_and_never_delete_tokens(monkeypatch):
    monkeypatch.setattr("oauth_login._client.time.sleep", lambda s: None)
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.fail_next = [HTTPResponse(503, b"")] * 3
    with pytest.raises(TransportError):
        client.get_token()
    assert provider.requests["/token:refresh_token"] == 3
    assert client.store.load(client.key) is not None  # kept for the next try
    provider.fail_next = [HTTPResponse(502, b"")]
    assert client.get_token().startswith("at-")  # one failure, then success


def test_network_error_with_a_still_valid_token_returns_the_current_token(monkeypatch):
    monkeypatch.setattr("oauth_login._client.time.sleep", lambda s: None)
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=40)  # due 10 s before expiry (a quarter of its life)
    client._clock = lambda: time.time() + 35  # due for a refresh, yet 5 s left
    provider.fail_next = [HTTPResponse(500, b"")] * 3
    assert client.get_token() == "at-initial"
    assert provider.requests["/token:refresh_token"] == 3  # every retry was made, then the old token
    assert provider.fail_next == []


def test_another_process_refresh_is_adopted_instead_of_spending_the_old_refresh_token():
    provider = FakeProvider()
    store = MemoryStore()
    a = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    b = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    signed_in(a, provider, expires_in=40)
    assert a.get_token() == b.get_token() == "at-initial"  # both hold the old token in memory
    later = lambda: time.time() + 35  # noqa: E731 - both due for a refresh
    a._clock = b._clock = later
    refreshed = a.get_token()
    assert refreshed != "at-initial"
    assert b._creds is not None and b._creds.access_token == "at-initial"
    # b's own copy is due: only the re-read of the store under its lock can avoid a second refresh.
    assert b.get_token() == refreshed
    assert provider.requests["/token:refresh_token"] == 1
    assert provider.token_errors == {}


def test_entry_for_another_client_is_ignored():
    provider = FakeProvider()
    store = MemoryStore()
    other = OAuthClient(Profile(issuer=ISSUER, client_id="someone-else"), store=store, request=provider)
    signed_in(other, provider, expires_in=3600)
    mine = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    with pytest.raises(NotSignedInError):
        mine.get_token()


def test_not_signed_in_error_says_what_to_do():
    client = make_client(FakeProvider())
    with pytest.raises(NotSignedInError) as info:
        client.get_token()
    assert "login()" in str(info.value)


def test_logout_with_revoke_revokes_refresh_then_access_token_and_deletes():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=3600)
    assert client.logout(revoke=True) is True
    assert provider.revoked == ["refresh_token", "access_token"]
    assert client.store.load(client.key) is None
    assert client.status().state == "signed_out"


def test_status_reads_the_store_without_network():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=3600)
    fresh = make_client(provider)
    fresh._store = client.store
    status = fresh.status()
    assert status.state == "signed_in"
    assert sum(provider.requests.values()) == 0


def test_status_listeners_see_every_change_and_a_broken_listener_is_contained(caplog):
    provider = FakeProvider()
    client = make_client(provider)
    seen: list[str] = []
    client.subscribe(lambda s: seen.append(s.state))
    client.subscribe(lambda s: 1 / 0)
    signed_in(client, provider, expires_in=3600)
    client.get_token()
    client.logout()
    assert seen == ["signed_in", "signed_out"]
    assert "listener failed" in caplog.text


def refused_refresh(status: int, doc: dict | None) -> HTTPResponse:
    body = b"" if doc is None else json.dumps(doc).encode()
    return HTTPResponse(status, body, {"Content-Type": "application/json"} if doc is not None else {})


@pytest.mark.parametrize("error", ["unauthorized_client", "invalid_client", "unsupported_grant_type"])
def test_a_refresh_refused_for_the_client_points_at_the_client_registration(error):
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.fail_next = [refused_refresh(401 if error == "invalid_client" else 400, {"error": error})]
    with pytest.raises(OAuthError) as info:
        client.get_token()
    assert info.value.error == error
    assert "client registration" in str(info.value)
    assert client.store.load(client.key) is not None  # no reason to end the session
    assert "see the provider" not in str(info.value)


def test_a_refresh_refused_for_another_reason_points_at_signing_in_again():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.fail_next = [refused_refresh(400, {"error": "invalid_request"})]
    with pytest.raises(OAuthError) as info:
        client.get_token()
    assert "sign in again" in info.value.hint
    assert "sign in again" in client.status().hint


@pytest.mark.parametrize("body", [b"", b"<html>Bad Request</html>", b"{}"])
def test_a_refresh_refused_with_a_400_that_is_no_oauth_error_ends_the_session(body):
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.fail_next = [HTTPResponse(400, body)]
    with pytest.raises(InvalidGrantError) as info:
        client.get_token()
    text = str(info.value)
    assert "\n" not in text and "sign in again" in text
    assert client.store.load(client.key) is None  # as for invalid_grant: the refresh token is dead
    assert client.status().state == "error"
    assert "sign in again" in client.status().hint
    # Another process (oauth-login status) reads the store: nobody is signed in, not "expired".
    other = make_client(provider)
    other._store = client.store
    assert other.status().state == "signed_out"
    assert "expired" not in str(other.status()) and "refreshed" not in str(other.status())
    assert provider.requests["/token:refresh_token"] == 1  # not retried


@pytest.mark.parametrize("failure", [HTTPResponse(503, b""), TransportError("could not reach idp.test")])
def test_a_5xx_or_network_error_on_refresh_keeps_the_tokens(monkeypatch, failure):
    monkeypatch.setattr("oauth_login._client.time.sleep", lambda s: None)
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.fail_next = [failure] * 3
    with pytest.raises(TransportError):
        client.get_token()
    assert client.store.load(client.key) is not None
    assert client.get_token().startswith("at-")


class FailingSaves(MemoryStore):
    """A store whose next ``failures`` saves fail, as a locked keyring or a full disk does."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures = failures
        self.error = error

    def save(self, key, entry):
        if self.failures:
            self.failures -= 1
            raise self.error
        super().save(key, entry)


@pytest.mark.parametrize(
    "error",
    [StorageError("the keyring refused to store the tokens (KeyringLocked)"), OSError(28, "No space left")],
)
def test_a_failed_save_during_refresh_keeps_the_new_tokens_and_the_next_refresh_works(caplog, error):
    provider = FakeProvider()  # rotates, and a reused refresh token revokes the whole grant
    store = FailingSaves(0, error)
    client = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    signed_in(client, provider, expires_in=3600)
    store.failures = 1
    first = client.refresh(force=True, failed_token="at-initial")
    assert first.access_token != "at-initial"
    assert client.get_token() == first.access_token  # adopted although not stored
    assert caplog.text.count("could not be stored") == 1
    second = client.refresh(force=True, failed_token=first.access_token)
    assert second.access_token not in ("at-initial", first.access_token)
    assert provider.requests["/token:refresh_token"] == 2
    assert provider.token_errors == {}, "the spent refresh token was replayed"
    assert store.load(client.key)["credentials"]["refresh_token"] == second.refresh_token


def test_an_older_stored_entry_is_not_adopted_over_newer_tokens_whose_save_failed():
    provider = FakeProvider()
    store = FailingSaves(0, StorageError("the keyring refused to store the tokens (KeyringLocked)"))
    client = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    signed_in(client, provider, expires_in=3600)  # the stored token is valid for an hour
    provider.expires_in = 600  # the refreshed ones for ten minutes
    store.failures = 1
    newer = client.refresh(force=True, failed_token="at-initial")
    client._clock = lambda: newer.refresh_due(60) + 1  # ours is due; the stored one looks fresh
    assert client._clock() < Credentials.from_entry(store.load(client.key)["credentials"]).refresh_due(60)
    assert client.get_token() not in ("at-initial", newer.access_token)
    assert provider.token_errors == {}


def test_a_store_that_keeps_failing_warns_once_and_refreshes_go_on(caplog):
    provider = FakeProvider()
    store = FailingSaves(0, StorageError("the keyring refused to store the tokens (KeyringLocked)"))
    client = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    signed_in(client, provider, expires_in=3600)
    store.failures = 3
    token = "at-initial"
    for _ in range(3):
        token = client.refresh(force=True, failed_token=token).access_token
    assert provider.requests["/token:refresh_token"] == 3
    assert provider.token_errors == {}
    assert caplog.text.count("could not be stored") == 1


def test_status_of_an_expired_token_says_refreshed_on_next_use_only_with_a_refresh_token():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-10)
    assert str(client.status()).endswith("(expired (refreshed on next use))")
    without = make_client(provider)
    with without.store.lock(without.key):
        without._save(Credentials("at-initial", None, ISSUER, expires_in=-10))
    text = str(without.status())
    assert "refreshed on next use" not in text
    assert text.endswith("(expired; sign in again)")


def test_without_rotation_a_token_another_process_refreshed_is_adopted_too():
    provider = FakeProvider(rotate=False)  # Google: the refresh token stays the same
    store = MemoryStore()
    a = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    b = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    signed_in(a, provider, expires_in=40)
    assert a.get_token() == b.get_token() == "at-initial"
    a._clock = b._clock = lambda: time.time() + 35
    assert b.get_token() == a.get_token() != "at-initial"
    assert provider.requests["/token:refresh_token"] == 1


def test_a_refresh_refused_as_unauthorized_says_to_allow_the_refresh_grant():
    provider = FakeProvider()
    client = make_client(provider)
    signed_in(client, provider, expires_in=-1)
    provider.fail_next = [refused_refresh(400, {"error": "unauthorized_client"})]
    with pytest.raises(OAuthError) as info:
        client.get_token()
    assert info.value.hint.endswith("allow the refresh_token grant")
