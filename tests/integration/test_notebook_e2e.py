"""The notebook experience end to end: notebooks/quickstart.ipynb in real JupyterLab 4 and Notebook 7.

Headless Chromium clicks the panel's Sign in, signs in to the development provider in the pop-up,
and the later cells use the token. Then: sign out, a cell blocked in get_token() while Sign in is
clicked (the click must not need the kernel), the saved .ipynb holds no secret, and a restarted
kernel finds the stored login without a browser. The widget manager saves widget state into the
.ipynb ("Save Widget State Automatically" on): a notebook saved while a live sign-in link is ready
must not hold it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from devtools.jupyter import (
    JupyterServer,
    cell,
    complete_login_in,
    open_notebook,
    restart_kernel,
    run_all,
    run_cell,
    save,
    screenshot,
    wait_for_output,
    wait_idle,
    widget,
)
from oauth_login._stores import FileStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = "quickstart.ipynb"
# The README's picture of the panel. Taken on every run (into the test's tmp dir); written to docs/
# only with OAUTH_LOGIN_UPDATE_SCREENSHOT=1, so a test run leaves the working tree clean.
SCREENSHOT = ROOT / "docs" / "login-panel.png"
# Code cells of notebooks/quickstart.ipynb, by position among all its cells.
LOAD_EXT, PANEL, GET_TOKEN, USERINFO, STATUS = 1, 3, 5, 6, 7
WAIT_MS = 60_000
# Lab's and Notebook 7's widget manager then writes every widget's state into the saved .ipynb.
SAVE_WIDGET_STATE = {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}


@pytest.fixture(params=["lab", "notebook"])
def jupyter(request, idp, tmp_path) -> Any:
    state = tmp_path / "state"
    env = {
        "OAUTH_LOGIN_ISSUER": idp.issuer,
        "OAUTH_LOGIN_CLIENT_ID": "notebook",
        "OAUTH_LOGIN_STORAGE": "file",
        "OAUTH_LOGIN_STATE_DIR": str(state),
        "OAUTH_LOGIN_CONFIG": str(tmp_path / "no-profiles.toml"),
    }
    notebooks = {QUICKSTART: ROOT / "notebooks" / QUICKSTART}
    with JupyterServer(request.param, notebooks=notebooks, env=env, settings=SAVE_WIDGET_STATE) as server:
        yield server, state


def expect_state(panel: Locator, state: str) -> None:
    expect(panel).to_have_attribute("data-state", state, timeout=WAIT_MS)


def expect_running(page: Page, index: int) -> None:
    expect(cell(page, index).locator(".jp-InputPrompt")).to_contain_text("*", timeout=WAIT_MS)


def sign_in(page: Page, panel: Locator, issuer: str) -> str:
    """Click Sign in, sign in as alice in the pop-up; returns the callback URL the pop-up ended on."""
    button = panel.get_by_test_id("sign-in")
    expect(button).to_be_visible(timeout=WAIT_MS)
    with page.context.expect_page() as info:
        button.click()
    popup = info.value
    result = complete_login_in(popup, provider_prefix=issuer, expect_url_prefix="http://127.0.0.1:")
    assert result.status == 200, result.text
    assert "Signed in" in result.text
    popup.close()
    expect_state(panel, "signed_in")
    return result.url


def story(page: Page, server: JupyterServer, idp: Any, shots: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    open_notebook(page, server, QUICKSTART)
    run_all(page)
    panel = widget(page, PANEL)
    expect_state(panel, "signed_out")
    # Run all went on into get_token(), which waits for the sign-in: the kernel is busy from here.
    expect_running(page, GET_TOKEN)
    first = sign_in(page, panel, idp.issuer)
    wait_for_output(page, GET_TOKEN, "got a token of")
    wait_for_output(page, USERINFO, "userinfo: 200 alice@example.com")
    wait_for_output(page, STATUS, "signed in as alice@example.com")
    expect(panel.get_by_test_id("status")).to_contain_text("alice@example.com")
    if server.app == "lab":
        shot = screenshot(panel, shots / "login-panel.png", padding=6)
        seen["screenshot"] = shot.stat().st_size
        if os.environ.get("OAUTH_LOGIN_UPDATE_SCREENSHOT"):
            shutil.copyfile(shot, SCREENSHOT)
    wait_idle(page)

    # Sign out; then a cell blocks in get_token() and Sign in is clicked while it runs. The user
    # first closes the pop-up without signing in and clicks again: still no kernel needed.
    panel.get_by_test_id("sign-out").click()
    expect_state(panel, "signed_out")
    run_cell(page, GET_TOKEN)
    expect_running(page, GET_TOKEN)
    with page.context.expect_page() as info:
        panel.get_by_test_id("sign-in").click()
    info.value.wait_for_url(lambda url: url.startswith(idp.issuer))
    info.value.close()
    expect_state(panel, "waiting")
    # The kernel holds the next live link now (for a closed pop-up): save the notebook with it.
    save(page)
    seen["saved_while_live"] = (server.root_dir / QUICKSTART).read_text()
    second = sign_in(page, panel, idp.issuer)
    wait_for_output(page, GET_TOKEN, "got a token of")
    wait_idle(page)
    seen["callbacks"] = [first, second]
    seen["verifiers"] = idp.stats()["code_verifiers"]

    save(page)
    seen["saved"] = (server.root_dir / QUICKSTART).read_text()

    # A new kernel: the stored login shows at once; no window opens, no sign-in at the provider.
    idp.reset()
    windows = len(page.context.pages)
    restart_kernel(page)
    run_cell(page, LOAD_EXT)
    run_cell(page, PANEL)
    expect_state(widget(page, PANEL), "signed_in")
    wait_idle(page)
    seen["new_windows"] = len(page.context.pages) - windows
    seen["stats"] = idp.stats()
    return seen


def test_quickstart_sign_in_use_sign_out_busy_kernel_save_restart(jupyter, idp, browser, tmp_path):
    server, state = jupyter
    idp.reset()
    seen = browser.submit(story, server, idp, tmp_path).result(timeout=280)
    if server.app == "lab":
        assert seen["screenshot"] > 1000  # a real picture of the signed-in panel
    assert seen["new_windows"] == 0
    assert seen["stats"]["token_requests"]["authorization_code"] == 0
    assert len(seen["verifiers"]) == 2

    stored = FileStore(state / "tokens").load("default")["credentials"]
    secrets = [stored["access_token"], stored["refresh_token"], stored["id_token"], *seen["verifiers"]]
    for url in seen["callbacks"]:
        secrets += re.findall(r"[?&](?:code|state)=([^&]+)", url)
    assert len(secrets) == 9
    for secret in secrets:
        assert secret not in seen["saved"]
    # No sign-in link either: the panel's text/html and text/plain outputs carried it (issue 7, B7).
    assert "/start/" not in seen["saved"]
    assert "%oauth_login --mode device" in seen["saved"]  # the outputs say what to do without the widget

    # Issue 7: saved while a live link was ready (after the closed pop-up), the widget state holds
    # the panel's traits but not the link: it is sent to the page in messages only.
    live = seen["saved_while_live"]
    assert "/start/" not in live
    panels = [
        model["state"]
        for model in json.loads(live)["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"][
            "state"
        ].values()
        if model["state"].get("_anywidget_id", "").endswith("LoginButton")
    ]
    assert panels, "the saved widget state has the panel's model (else the check above proves nothing)"
    assert any(p["state"] == "waiting" and p["link_ready"] for p in panels)
