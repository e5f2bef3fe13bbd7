"""OAuthClient signing in against the strict fake provider: PKCE and code wiring, ID-token checks, hints.

The fake provider accepts a code once, only with the verifier of its challenge, the same client and
redirect URI, and answers with an ID token carrying the nonce it was given: so a login that succeeds
here proves the wiring, and the tampered and wrong-claim cases prove each check is made.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth_login import Credentials, IDTokenError, InvalidGrantError, OAuthError
from oauth_login._client import OAuthClient
from oauth_login._pkce import AttemptSecrets
from oauth_login._profiles import Profile
from oauth_login._stores import MemoryStore
from tests.fake_provider import ISSUER, FakeProvider

CLIENT_ID = "cli"


def make_client(provider, *, request=None, **profile) -> OAuthClient:
    return OAuthClient(
        Profile(issuer=ISSUER, client_id=CLIENT_ID, **profile),
        store=MemoryStore(),
        request=request or provider,
    )


def login_by_paste(
    client: OAuthClient, provider: FakeProvider, links: list[str] | None = None
) -> Credentials:
    """Sign in in paste mode: the 'user' opens the link at the fake provider and pastes the redirect."""
    shown = [] if links is None else links

    def read_paste(prompt: str) -> str:
        return provider.authorize(shown[-1])

    return client.login(
        mode="paste",
        timeout=30,
        open_browser=False,
        show_link=lambda link, code: shown.append(link),
        read_paste=read_paste,
    )


def test_paste_login_exchanges_the_code_with_its_verifier_and_keeps_the_id_token_claims():
    provider = FakeProvider()
    client = make_client(provider)
    creds = login_by_paste(client, provider)
    assert creds.account == "alice@example.com"
    assert creds.claims["sub"] == "alice"
    assert creds.id_token and creds.refresh_token
    assert provider.requests["/token:authorization_code"] == 1
    assert provider.token_errors == {}
    assert not provider.codes, "the code was spent"
    assert client.store.load(client.key)["credentials"]["claims"]["sub"] == "alice"


@pytest.mark.timeout(60)
def test_loopback_login_through_the_start_link_exchanges_the_code():
    provider = FakeProvider()
    client = make_client(provider)
    finished: list[int] = []
    browsers: list[threading.Thread] = []

    def open_browser(link: str) -> bool:
        browser = threading.Thread(target=lambda: finished.append(provider.browse(link)), daemon=True)
        browsers.append(browser)
        browser.start()
        return True

    creds = client.login(mode="loopback", timeout=30, open_browser=open_browser)
    for browser in browsers:
        browser.join(10)
    assert finished == [200]
    assert creds.account == "alice@example.com"
    assert provider.requests["/token:authorization_code"] == 1
    assert provider.token_errors == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code_verifier", AttemptSecrets().verifier),  # another attempt's verifier
        ("code", "code-that-was-never-issued"),
        ("redirect_uri", "http://127.0.0.1/elsewhere"),
        ("client_id", "another-client"),
    ],
)
def test_the_fake_provider_refuses_a_code_exchange_with_any_part_changed(field, value):
    # Shows the fake is strict, so the successful logins above prove the client's wiring.
    provider = FakeProvider()

    def tamper(method, url, *, headers=None, data=None):
        if data and data.get("grant_type") == "authorization_code":
            data = {**data, field: value}
        return provider(method, url, headers=headers, data=data)

    client = make_client(provider, request=tamper)
    with pytest.raises(InvalidGrantError):
        login_by_paste(client, provider)
    assert client.store.load(client.key) is None


def test_the_fake_provider_accepts_a_code_once():
    provider = FakeProvider()
    exchanges: list[dict[str, str]] = []

    def record(method, url, *, headers=None, data=None):
        if data and data.get("grant_type") == "authorization_code":
            exchanges.append(dict(data))
        return provider(method, url, headers=headers, data=data)

    login_by_paste(make_client(provider, request=record), provider)
    replay = provider("POST", f"{ISSUER}/token", data=exchanges[0])
    assert replay.status == 400
    assert replay.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("claims", "what"),
    [
        ({"nonce": "another-attempts-nonce"}, "'nonce'"),
        ({"aud": "another-client"}, "'aud'"),
        ({"iss": "https://evil.test"}, "'iss'"),
    ],
)
def test_a_login_whose_id_token_is_wrong_fails_and_keeps_nothing(claims, what):
    provider = FakeProvider()
    provider.id_token_changes = claims
    client = make_client(provider)
    with pytest.raises(IDTokenError, match=what):
        login_by_paste(client, provider)
    assert client.store.load(client.key) is None
    assert client.status().state == "error"
    assert what in client.status().message


def test_without_openid_no_nonce_is_sent_and_none_is_expected():
    provider = FakeProvider()
    provider.id_token_without_openid = True  # some providers send an ID token whatever the scopes
    client = make_client(provider, scopes=("profile", "offline_access"))
    links: list[str] = []
    creds = login_by_paste(client, provider, links)
    assert "nonce" not in parse_qs(urlsplit(links[0]).query)
    assert creds.claims["sub"] == "alice"


def test_a_refreshed_id_token_naming_another_user_fails_but_the_rotated_refresh_token_is_kept():
    provider = FakeProvider()
    client = make_client(provider)
    first = login_by_paste(client, provider)
    provider.id_token_changes = {"sub": "mallory"}
    with pytest.raises(IDTokenError, match="'sub' changed"):
        client.refresh(force=True, failed_token=first.access_token)
    assert client.status().state == "error"
    assert "'sub' changed" in client.status().message
    # The provider already rotated: the old refresh token is spent, so the new one must have been kept
    # (in memory and in the store), or the next refresh would replay the old one and end the grant.
    provider.id_token_changes = {}
    again = client.refresh(force=True, failed_token=first.access_token)
    assert again.claims["sub"] == "alice"
    assert provider.token_errors == {}
    assert client.store.load(client.key)["credentials"]["refresh_token"] == again.refresh_token


def test_the_failed_sub_check_never_hands_out_the_new_access_token():
    provider = FakeProvider()
    client = make_client(provider)
    first = login_by_paste(client, provider)
    provider.id_token_changes = {"sub": "mallory"}
    with pytest.raises(IDTokenError):
        client.refresh(force=True, failed_token=first.access_token)
    assert client.get_token() == first.access_token  # still alice's, still valid
    assert client.credentials().claims["sub"] == "alice"


def test_invalid_scope_without_description_names_the_scopes_asked_for_and_supported():
    provider = FakeProvider()
    provider.closed_scopes = True
    client = make_client(provider, scopes=("openid", "api"))
    with pytest.raises(OAuthError) as info:
        login_by_paste(client, provider)
    assert info.value.error == "invalid_scope"
    for text in (str(info.value), client.status().hint):
        assert "see the provider" not in text
        assert "'api'" in text
        assert "asked for 'openid api'" in text
        assert "supports 'openid profile email offline_access'" in text


def test_invalid_scope_when_discovery_lists_no_scopes_says_so():
    provider = FakeProvider()
    provider.closed_scopes = True
    provider.scopes_supported = None
    client = make_client(provider, scopes=("openid", "api"))
    with pytest.raises(OAuthError) as info:
        login_by_paste(client, provider)
    assert "asked for 'openid api'" in info.value.hint
    assert "does not list" in info.value.hint
