"""OAuthClient against the fake provider: refresh ahead of expiry, single flight, errors, logout."""

from __future__ import annotations

import threading
import time

import pytest

from oauth_login import Credentials, InvalidGrantError, NotSignedInError, TransportError
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
    signed_in(client, provider, expires_in=10)  # inside the refresh margin but not expired
    provider.fail_next = [HTTPResponse(500, b"")] * 3
    assert client.get_token() == "at-initial"


def test_another_process_refresh_is_adopted_instead_of_spending_the_old_refresh_token():
    provider = FakeProvider()
    store = MemoryStore()
    a = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    b = OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=store, request=provider)
    signed_in(a, provider, expires_in=-1)
    assert a.get_token() == b.get_token()  # b re-reads the store under the lock: no second refresh
    assert provider.requests["/token:refresh_token"] == 1


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
