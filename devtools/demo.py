"""`make demo`: start the development provider and sign in from the terminal with the real CLI.

With HEADLESS=1 the browser leg is done by headless Chromium (through Python's standard BROWSER
variable), so the demo also runs on a machine without a screen.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.idp_process import DevIdP

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    cli = [sys.executable, "-m", "oauth_login._cli"]
    with DevIdP() as idp, tempfile.TemporaryDirectory(prefix="oauth-login-demo-") as state:
        print(f"development provider: {idp.issuer}  (users: alice / alice-pw, bob / bob-pw)")
        env = {
            **os.environ,
            "OAUTH_LOGIN_ISSUER": idp.issuer,
            "OAUTH_LOGIN_CLIENT_ID": "notebook",
            "OAUTH_LOGIN_SCOPES": "openid profile email offline_access",
            "OAUTH_LOGIN_STORAGE": "file",
            "OAUTH_LOGIN_STATE_DIR": state,
        }
        if os.environ.get("HEADLESS"):
            env["BROWSER"] = f"{sys.executable} -m devtools.browser %s"
            print("HEADLESS=1: headless Chromium plays the user (signs in as alice)")
        print(f"$ oauth-login login --issuer {idp.issuer} --client-id notebook", flush=True)
        login = subprocess.run([*cli, "login"], env=env, cwd=ROOT, check=False)
        if login.returncode != 0:
            return login.returncode
        print("$ oauth-login status", flush=True)
        status = subprocess.run([*cli, "status"], env=env, cwd=ROOT, check=False)
        return status.returncode


if __name__ == "__main__":
    sys.exit(main())
