"""The `oauth-login` command and `make demo` as users run them: real processes, provider and browser."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "oauth_login._cli"]
HEADLESS_BROWSER = f"{sys.executable} -m devtools.browser %s"


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def cli_env(idp_env) -> dict[str, str]:
    return {**os.environ, "BROWSER": HEADLESS_BROWSER}


def test_unusable_keyring_falls_back_to_a_private_file(cli_env, oauth_env):
    env = {
        **cli_env,
        "OAUTH_LOGIN_STORAGE": "auto",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    login = run([*CLI, "login"], env)
    assert login.returncode == 0, login.stderr
    assert "signed in as alice@example.com" in login.stderr
    notices = [line for line in login.stderr.splitlines() if "keyring" in line.lower()]
    assert len(notices) == 1 and "file" in notices[0]
    files = list((oauth_env / "state" / "tokens").glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    token = run([*CLI, "token"], env)
    assert token.returncode == 0 and len(token.stdout.strip()) > 20
    assert token.stdout.strip() not in login.stderr + login.stdout


def test_corrupt_stored_entry_is_ignored_with_a_one_line_warning(cli_env, oauth_env):
    assert run([*CLI, "login"], cli_env).returncode == 0
    (entry,) = (oauth_env / "state" / "tokens").glob("*.json")
    entry.write_text('{"v": 1, "entry": {"issuer": ')
    status = run([*CLI, "status"], cli_env)
    assert status.returncode == 0
    assert "signed out" in status.stdout
    warnings = [line for line in status.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "Traceback" not in status.stderr
    assert run([*CLI, "login"], cli_env).returncode == 0  # a new login replaces the broken entry
    assert "signed in as" in run([*CLI, "status"], cli_env).stdout


def test_ctrl_c_cancels_cleanly_and_frees_the_port(idp_env):
    proc = subprocess.Popen(
        [*CLI, "login", "--no-browser"], env=dict(os.environ), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stderr.readline()
        assert line.startswith("To sign in, open http://127.0.0.1:")
        port = urlsplit(line.split()[-1]).port
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(30) == 130
        assert "cancelled" in rest and "Traceback" not in rest
    finally:
        proc.kill() if proc.poll() is None else None
        proc.stderr.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_make_demo_headless_signs_in_from_the_notebook(oauth_env):
    demo = run([sys.executable, "-m", "devtools.demo"], {**os.environ, "HEADLESS": "1"}, timeout=240)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "notebook: userinfo: 200 alice@example.com" in demo.stdout
    assert "notebook: signed in as alice@example.com" in demo.stdout


def test_cli_demo_headless_signs_in(oauth_env):
    demo = run([sys.executable, "-m", "devtools.demo", "--cli"], {**os.environ, "HEADLESS": "1"}, timeout=180)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "signed in as alice@example.com" in demo.stderr + demo.stdout
