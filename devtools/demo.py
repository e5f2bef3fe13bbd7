"""`make demo`: the development provider and JupyterLab on notebooks/quickstart.ipynb.

- `make demo`: prints the JupyterLab URL; open it, run the notebook, click Sign in (alice / alice-pw).
  Ctrl-C stops everything.
- `make demo HEADLESS=1`: headless Chromium plays the user: runs the notebook, clicks Sign in, signs
  in in the pop-up, and the demo prints what the notebook printed.
- `python -m devtools.demo --cli`: the same sign-in from the terminal with the `oauth-login` command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from devtools.idp_process import DevIdP

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = "quickstart.ipynb"
PANEL, USERINFO, STATUS = 3, 6, 7  # cells of notebooks/quickstart.ipynb


def _env(idp: DevIdP, state: str) -> dict[str, str]:
    return {
        "OAUTH_LOGIN_ISSUER": idp.issuer,
        "OAUTH_LOGIN_CLIENT_ID": "notebook",
        "OAUTH_LOGIN_SCOPES": "openid profile email offline_access",
        "OAUTH_LOGIN_STORAGE": "file",
        "OAUTH_LOGIN_STATE_DIR": state,
    }


def cli_demo(idp: DevIdP, state: str, headless: bool) -> int:
    env = {**os.environ, **_env(idp, state)}
    if headless:
        env["BROWSER"] = f"{sys.executable} -m devtools.browser %s"
    cli = [sys.executable, "-m", "oauth_login._cli"]
    print(f"$ oauth-login login --issuer {idp.issuer} --client-id notebook", flush=True)
    login = subprocess.run([*cli, "login"], env=env, cwd=ROOT, check=False)
    if login.returncode != 0:
        return login.returncode
    print("$ oauth-login status", flush=True)
    return subprocess.run([*cli, "status"], env=env, cwd=ROOT, check=False).returncode


def _headless_notebook(page, server, idp: DevIdP) -> list[str]:
    from playwright.sync_api import expect

    from devtools import jupyter

    jupyter.open_notebook(page, server, QUICKSTART)
    jupyter.run_all(page)
    panel = jupyter.widget(page, PANEL)
    expect(panel).to_have_attribute("data-state", "signed_out", timeout=60_000)
    with page.context.expect_page() as popup:
        panel.get_by_test_id("sign-in").click()
    jupyter.complete_login_in(popup.value, provider_prefix=idp.issuer, expect_url_prefix="http://127.0.0.1:")
    expect(panel).to_have_attribute("data-state", "signed_in", timeout=60_000)
    jupyter.wait_for_output(page, STATUS, "signed in as")
    return [jupyter.cell_output_text(page, i).strip() for i in (USERINFO, STATUS)]


def notebook_demo(idp: DevIdP, state: str, headless: bool) -> int:
    from devtools.jupyter import JupyterServer

    notebooks = {QUICKSTART: ROOT / "notebooks" / QUICKSTART}
    with JupyterServer("lab", notebooks=notebooks, env=_env(idp, state)) as server:
        url = server.notebook_url(QUICKSTART)
        if not headless:
            print(
                f"JupyterLab: {url}\nRun the notebook, click Sign in (alice / alice-pw). Ctrl-C stops.",
                flush=True,
            )
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                return 0
        from devtools.browser import BrowserThread

        print(
            f"JupyterLab: {url}\nHEADLESS=1: headless Chromium runs the notebook and signs in as alice",
            flush=True,
        )
        with BrowserThread() as browser:
            lines = browser.submit(_headless_notebook, server, idp).result(timeout=240)
        for line in lines:
            print(f"notebook: {line}")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--cli", action="store_true", help="sign in from the terminal instead of JupyterLab")
    args = parser.parse_args(argv)
    headless = bool(os.environ.get("HEADLESS"))
    with DevIdP() as idp, tempfile.TemporaryDirectory(prefix="oauth-login-demo-") as state:
        print(f"development provider: {idp.issuer}  (users: alice / alice-pw, bob / bob-pw)", flush=True)
        return cli_demo(idp, state, headless) if args.cli else notebook_demo(idp, state, headless)


if __name__ == "__main__":
    sys.exit(main())
