"""End to end: oauth_login.auth_client (flytekit's API) against the real provider and headless Chromium."""

from __future__ import annotations

import secrets
import socket
import threading
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from devtools.browser import BrowserResult, BrowserThread, complete_login
from devtools.idp_process import DevIdP
from oauth_login import AccessDeniedError, Credentials
from oauth_login._pkce import s256_challenge
from oauth_login.auth_client import AuthorizationClient, InvalidRefreshTokenError
from tests.ports import port_is_free

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def userinfo_status(idp: DevIdP, token: str) -> int:
    request = urllib.request.Request(
        idp.discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


class ChromiumUser:
    """Stands in for ``webbrowser.open_new_tab``: hands the link to headless Chromium, which signs in."""

    def __init__(self, browser: BrowserThread, redirect_prefix: str) -> None:
        self.browser = browser
        self.redirect_prefix = redirect_prefix
        self.consent = "allow"
        self.before: Callable[[], None] | None = None
        self.links: list[str] = []
        self.futures: list[Future[BrowserResult]] = []

    def open_new_tab(self, url: str) -> bool:
        self.links.append(url)
        if self.before is not None:
            self.before()
        self.futures.append(
            self.browser.submit(
                complete_login, url, consent=self.consent, expect_url_prefix=self.redirect_prefix
            )
        )
        return True

    def result(self) -> BrowserResult:
        return self.futures[-1].result(timeout=60)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def user(browser: BrowserThread, port: int, monkeypatch: pytest.MonkeyPatch) -> ChromiumUser:
    player = ChromiumUser(browser, f"http://localhost:{port}/callback")
    monkeypatch.setattr(webbrowser, "open_new_tab", player.open_new_tab)
    return player


def make_client(idp: DevIdP, port: int, **kwargs: Any) -> AuthorizationClient:
    settings: dict[str, Any] = {
        "endpoint": "flyte.test",
        "auth_endpoint": idp.discovery["authorization_endpoint"],
        "token_endpoint": idp.discovery["token_endpoint"],
        "client_id": "notebook",
        "redirect_uri": f"http://localhost:{port}/callback",
        "scopes": ["openid", "offline_access"],
        # oidc-provider grants offline_access (a refresh token) only after an explicit consent prompt.
        "request_auth_code_params": {"prompt": "consent"},
    }
    settings.update(kwargs)
    return AuthorizationClient(**settings)


def test_full_login_then_refresh_rotates_the_refresh_token(idp, user, port):
    idp.reset()
    client = make_client(idp, port)

    creds = client.get_creds_from_remote()

    assert user.result().text.startswith("Signed in")
    assert creds.access_token and creds.refresh_token and creds.id_token
    assert creds.for_endpoint == "flyte.test"
    assert creds.claims["sub"] == "alice"
    assert userinfo_status(idp, creds.access_token) == 200
    assert idp.stats()["token_requests"]["authorization_code"] == 1
    assert port_is_free(port)

    refreshed = client.refresh_access_token(creds)

    assert refreshed.access_token != creds.access_token
    assert refreshed.refresh_token and refreshed.refresh_token != creds.refresh_token
    assert userinfo_status(idp, refreshed.access_token) == 200
    # The rotated-out refresh token is spent: the provider's invalid_grant stays recognisable.
    with pytest.raises(InvalidRefreshTokenError) as spent:
        client.refresh_access_token(creds)
    assert spent.value.error == "invalid_grant"


def test_flytekit_pkce_authenticator_style_construction_signs_in(idp, user, port):
    # What flytekit's PKCEAuthenticator passes: its own pair, and the copy of auth-code params.
    verifier = secrets.token_urlsafe(48)
    client = make_client(
        idp,
        port,
        request_auth_code_params={
            "code_challenge": s256_challenge(verifier),
            "code_challenge_method": "S256",
            "prompt": "consent",
        },
        request_access_token_params={"code_verifier": verifier},
        refresh_access_token_params={},
        add_request_auth_code_params_to_request_access_token_params=True,
    )

    creds = client.get_creds_from_remote()

    assert creds.access_token and creds.refresh_token
    assert client.refresh_access_token(creds).access_token != creds.access_token


def test_four_threads_share_one_login(idp, user, port, monkeypatch):
    idp.reset()
    client = make_client(idp, port)
    joined = threading.Semaphore(0)
    original_join = client._join_login

    def counting_join(login: Any) -> Credentials:
        joined.release()
        return original_join(login)

    monkeypatch.setattr(client, "_join_login", counting_join)

    def other_callers_are_waiting() -> None:
        for _ in range(3):
            assert joined.acquire(timeout=30)

    user.before = other_callers_are_waiting
    start = threading.Barrier(4)

    def call() -> Credentials:
        start.wait(timeout=30)
        return client.get_creds_from_remote()

    with ThreadPoolExecutor(4) as pool:
        results = [f.result(timeout=90) for f in [pool.submit(call) for _ in range(4)]]

    assert len(user.links) == 1
    assert idp.stats()["token_requests"]["authorization_code"] == 1
    assert {r.access_token for r in results} == {results[0].access_token}
    assert {r.refresh_token for r in results} == {results[0].refresh_token}


def test_deny_raises_access_denied_and_frees_the_port(idp, user, port):
    user.consent = "deny"
    client = make_client(idp, port)

    with pytest.raises(AccessDeniedError):
        client.get_creds_from_remote()

    page = user.result()
    assert page.status == 400
    assert "access_denied" in page.text
    assert port_is_free(port)
