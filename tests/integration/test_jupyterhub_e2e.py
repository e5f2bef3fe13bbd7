"""JupyterHub end to end: alice and bob sign in at the same time through one hub-wide redirect URI.

A real JupyterHub (configurable-http-proxy, SimpleLocalProcessSpawner) whose single-user servers have
this package's extension (installed, hence enabled). Nobody configures a redirect URI: under the hub
the default is `<hub>/hub/user-redirect/oauth-login/callback`, built from the origin the browser
reports. The hub forwards each logged-in browser to its own server, so each kernel gets its own
code, and alice's code and state sent to bob's server are refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from devtools.jupyter import code_notebook, complete_login_in, run_all, wait_for_output, widget
from devtools.jupyterhub import JupyterHub, hub_login, open_user_notebook, visit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

USERS = {"alice": "alice-pw", "bob": "bob-pw"}  # hub user -> the same person's password at the provider
NOTEBOOK = "signin.ipynb"
WAIT_MS = 60_000
CELLS = [
    "%load_ext oauth_login",
    "%oauth_login",
    "import oauth_login\n"
    "token = oauth_login.get_token()  # waits for the sign-in\n"
    "print(oauth_login.status())",
]


def notebook() -> Any:
    return code_notebook(*CELLS)


@pytest.fixture(scope="module")
def hub(idp, tmp_path_factory) -> Any:
    tmp = tmp_path_factory.mktemp("hub-state")
    env = {
        "OAUTH_LOGIN_ISSUER": idp.issuer,
        "OAUTH_LOGIN_CLIENT_ID": "notebook",
        "OAUTH_LOGIN_STORAGE": "memory",
        "OAUTH_LOGIN_STATE_DIR": str(tmp),
    }
    with JupyterHub(users=list(USERS), env=env) as running:
        for user in USERS:
            running.write_notebook(user, NOTEBOOK, notebook())
        yield running
    assert running.leftovers == []


def two_users(page: Page, hub: JupyterHub, idp: Any) -> dict[str, Any]:
    second = page.context.browser.new_context()
    try:
        pages = {"alice": page, "bob": second.new_page()}
        panels = {}
        for user, user_page in pages.items():
            hub_login(user_page, hub, user)
            open_user_notebook(user_page, hub, user, NOTEBOOK)
            run_all(user_page)
            panels[user] = widget(user_page, 1)
            expect(panels[user]).to_have_attribute("data-state", "signed_out", timeout=WAIT_MS)
        seen: dict[str, Any] = {
            "modes": {u: p.get_by_test_id("mode").inner_text() for u, p in panels.items()}
        }

        # Both click Sign in: two attempts are registered, one on each user's server, at once.
        popups = {}
        for user, user_page in pages.items():
            with user_page.context.expect_page() as info:
                panels[user].get_by_test_id("sign-in").click()
            popups[user] = info.value
        done = {}
        for user in ("alice", "bob"):
            done[user] = complete_login_in(
                popups[user],
                username=user,
                password=USERS[user],
                provider_prefix=idp.issuer,
                expect_url_prefix=f"{hub.url}user/{user}/oauth-login/callback",
            )
            if user == "alice":
                # alice's code and state, through the same hub-wide URI, in bob's browser: refused
                # by bob's server (it never registered that state), and bob's sign-in goes on.
                query = urlsplit(done["alice"].url).query
                probe = second.new_page()
                seen["replay"] = visit(probe, f"{hub.url}hub/user-redirect/oauth-login/callback?{query}")
                probe.close()
        for user, user_page in pages.items():
            expect(panels[user]).to_have_attribute("data-state", "signed_in", timeout=WAIT_MS)
            wait_for_output(user_page, 2, f"signed in as {user}@example.com")
        seen["done"] = {u: (r.status, r.url, r.text) for u, r in done.items()}
        return seen
    finally:
        second.close()


def test_two_users_sign_in_at_once_through_the_hub_wide_redirect_uri(hub, idp, browser):
    idp.reset()
    seen = browser.submit(two_users, hub, idp).result(timeout=280)
    for user in USERS:
        status, url, text = seen["done"][user]
        assert status == 200, text
        assert "Sign-in received" in text
        assert url.startswith(f"{hub.url}user/{user}/oauth-login/callback?")
        assert "server" in seen["modes"][user].lower()
    replay = seen["replay"]
    assert replay.url.startswith(f"{hub.url}user/bob/oauth-login/callback?")
    assert replay.status == 400
    assert idp.stats()["token_requests"]["authorization_code"] == 2
