"""The jupyter-server relay end to end: the provider redirects to the Jupyter server, not to the kernel.

Real JupyterLab with this package's server extension (enabled by installing it), the dev provider and
headless Chromium. The kernel registers its attempt with its own server and long-polls it; the pop-up
ends on `<server>/oauth-login/callback`. Also the device flow from a notebook panel.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devtools.browser import complete_device
from devtools.jupyter import (
    JupyterServer,
    code_notebook,
    complete_login_in,
    open_notebook,
    run_all,
    wait_for_output,
    widget,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WAIT_MS = 60_000
CELLS = [
    "%load_ext oauth_login",
    "%oauth_login --mode {mode}",
    "import oauth_login\n"
    'print("got a token of", len(oauth_login.get_token()), "characters")\n'
    "print(oauth_login.status())",
]


def notebook(mode: str) -> Any:
    return code_notebook(*(source.format(mode=mode) for source in CELLS))


@pytest.fixture(scope="module")
def lab(idp, tmp_path_factory) -> Any:
    tmp = tmp_path_factory.mktemp("relay")
    env = {
        "OAUTH_LOGIN_ISSUER": idp.issuer,
        "OAUTH_LOGIN_CLIENT_ID": "notebook",
        "OAUTH_LOGIN_STORAGE": "memory",
        "OAUTH_LOGIN_STATE_DIR": str(tmp / "state"),
        "OAUTH_LOGIN_CONFIG": str(tmp / "no-profiles.toml"),
    }
    notebooks = {"relay.ipynb": notebook("server"), "device.ipynb": notebook("device")}
    with JupyterServer("lab", notebooks=notebooks, env=env) as server:
        yield server


def relay_story(page: Page, server: JupyterServer, idp: Any) -> dict[str, Any]:
    open_notebook(page, server, "relay.ipynb")
    run_all(page)
    panel = widget(page, 1)
    expect(panel).to_have_attribute("data-state", "signed_out", timeout=WAIT_MS)
    mode = panel.get_by_test_id("mode").inner_text()
    with page.context.expect_page() as info:
        panel.get_by_test_id("sign-in").click()
    callback = f"{server.url}oauth-login/callback"
    result = complete_login_in(info.value, provider_prefix=idp.issuer, expect_url_prefix=callback)
    expect(panel).to_have_attribute("data-state", "signed_in", timeout=WAIT_MS)
    wait_for_output(page, 2, "signed in as alice@example.com")
    return {"mode": mode, "url": result.url, "status": result.status, "text": result.text}


def test_sign_in_through_the_jupyter_server_relay(lab, idp, browser):
    idp.reset()
    seen = browser.submit(relay_story, lab, idp).result(timeout=200)
    assert seen["status"] == 200
    assert "Sign-in received" in seen["text"]
    assert seen["url"].startswith(f"{lab.url}oauth-login/callback?")  # the server, not a kernel port
    assert "server" in seen["mode"].lower()
    assert idp.stats()["token_requests"]["authorization_code"] == 1
    # The server never logs the code or the state of the redirect it relayed.
    code = seen["url"].split("code=", 1)[1].split("&", 1)[0]
    assert code not in lab.log()


def device_story(page: Page, server: JupyterServer) -> str:
    open_notebook(page, server, "device.ipynb")
    run_all(page)
    panel = widget(page, 1)
    code = panel.get_by_test_id("user-code")
    expect(code).to_be_visible(timeout=WAIT_MS)
    shown = code.inner_text()
    with page.context.expect_page() as info:
        panel.get_by_test_id("sign-in").click()
    popup = info.value
    popup.wait_for_load_state()
    # The pop-up shows the provider's page for the code; confirm it there as the user would.
    complete_device(popup, panel.get_by_test_id("link").get_attribute("href"))
    expect(panel).to_have_attribute("data-state", "signed_in", timeout=WAIT_MS)
    wait_for_output(page, 2, "signed in as alice@example.com")
    return shown


def test_device_flow_from_a_notebook_panel(lab, browser):
    user_code = browser.submit(device_story, lab).result(timeout=200)
    assert len(user_code.replace("-", "")) >= 8


def without_extension_story(page: Page, server: JupyterServer) -> tuple[str, str]:
    open_notebook(page, server, "relay.ipynb")
    run_all(page)
    panel = widget(page, 1)
    expect(panel).to_have_attribute("data-state", "error", timeout=WAIT_MS)
    return panel.get_by_test_id("status").inner_text(), panel.inner_text()


def test_a_server_without_the_extension_is_detected_and_explained(idp, browser, tmp_path):
    # As when the package is installed only in the kernel's environment: the server lacks the extension.
    env = {
        "OAUTH_LOGIN_ISSUER": idp.issuer,
        "OAUTH_LOGIN_CLIENT_ID": "notebook",
        "OAUTH_LOGIN_STORAGE": "memory",
    }
    disabled = ["--ServerApp.jpserver_extensions=oauth_login=False"]
    with JupyterServer(
        "lab", notebooks={"relay.ipynb": notebook("server")}, env=env, extra_args=disabled
    ) as server:
        status, shown = browser.submit(without_extension_story, server).result(timeout=120)
    assert "no oauth-login extension" in status  # the panel says what is wrong ...
    assert "pip install oauth-login" in shown  # ... and what to do
    assert "Traceback" not in shown
