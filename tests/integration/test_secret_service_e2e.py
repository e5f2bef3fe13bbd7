"""Tokens in a real Secret Service: gnome-keyring on a private D-Bus session, driven through the CLI.

Unlocked, the keyring holds the sign-in across processes, takes the rotated refresh tokens and loses
the item on logout. Locked, or with no login collection (a headless box), a sign-in is refused
before any browser opens, with the keyring's own words, and ``auto`` storage falls back to the
private file with a notice that says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.secret_service import SecretService
from oauth_login import Credentials

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "oauth_login._cli"]
HEADLESS_BROWSER = f"{sys.executable} -m devtools.browser %s"
SERVICE = "oauth-login"


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def keyring_env(idp_env, oauth_env: Path) -> dict[str, str]:
    """The CLI's environment: the dev provider, a headless browser, tokens in the keyring only."""
    return {**os.environ, "BROWSER": HEADLESS_BROWSER, "OAUTH_LOGIN_STORAGE": "keyring"}


@pytest.fixture
def unlocked(tmp_path: Path) -> Iterator[SecretService]:
    with SecretService(tmp_path / "secret-service") as service:
        yield service


@pytest.fixture
def locked(unlocked: SecretService) -> SecretService:
    unlocked.lock()
    return unlocked


@pytest.fixture
def recording_browser(tmp_path: Path) -> tuple[str, Path]:
    """A BROWSER command that only records that it was started: it must never be."""
    marker = tmp_path / "browser-was-opened"
    script = tmp_path / "record_browser.py"
    script.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('opened')\n")
    return f"{sys.executable} {script} %s", marker


def stored_credentials(service: SecretService) -> Credentials:
    ((attributes, secret),) = service.items(SERVICE)
    assert attributes["username"] == "default"
    return Credentials.from_entry(json.loads(secret)["entry"]["credentials"])


def wait_until_refresh_due(creds: Credentials) -> None:
    # Nothing signals "the token is now due": wait for the clock itself (the client's TTL is 2 s).
    time.sleep(max(0.0, creds.refresh_due(60.0) - time.time()) + 0.05)


def test_unlocked_keyring_keeps_the_sign_in_across_processes_and_rotations(
    keyring_env, unlocked, idp_env, monkeypatch
):
    env = {**keyring_env, **unlocked.env, "OAUTH_LOGIN_CLIENT_ID": "short-lived"}
    login = run([*CLI, "login"], env)
    assert login.returncode == 0, login.stderr
    assert "signed in as alice@example.com" in login.stderr
    assert "warning" not in login.stderr.lower()
    first = stored_credentials(unlocked)
    assert first.refresh_token
    assert not (Path(env["OAUTH_LOGIN_STATE_DIR"]) / "tokens").exists(), "nothing in the file store"

    idp_env.reset()
    seen = {first.access_token}
    current = first
    for _ in range(2):
        wait_until_refresh_due(current)
        token = run([*CLI, "token"], env)  # a new process: it reads the keyring, refreshes, writes back
        assert token.returncode == 0, token.stderr
        assert token.stdout.strip() not in seen
        seen.add(token.stdout.strip())
        rotated = stored_credentials(unlocked)
        assert rotated.access_token == token.stdout.strip()
        assert rotated.refresh_token and rotated.refresh_token != current.refresh_token, "rotation saved"
        current = rotated
    stats = idp_env.stats()
    assert stats["token_requests"]["refresh_token"] == 2
    assert stats["token_errors"].get("invalid_grant", 0) == 0, "an old refresh token was never replayed"

    logout = run([*CLI, "logout"], env)
    assert logout.returncode == 0, logout.stderr
    assert unlocked.items(SERVICE) == [], "logout deletes the keyring item"
    assert unlocked.items(SERVICE + " (write check)") == [], "the write check leaves nothing behind"


def test_a_locked_keyring_refuses_the_sign_in_before_any_browser_opens(
    keyring_env, locked, recording_browser
):
    browser, opened = recording_browser
    env = {**keyring_env, **locked.env, "BROWSER": browser}
    login = run([*CLI, "login", "--timeout", "15"], env, timeout=60)  # bounded if it regresses
    assert login.returncode == 1, login.stderr
    assert not opened.exists(), "the browser must not open for a sign-in that cannot be kept"
    assert "To sign in" not in login.stderr
    (line,) = login.stderr.strip().splitlines()
    assert "Failed to unlock the collection" in line, "the keyring's own words"
    assert "OAUTH_LOGIN_STORAGE=file" in line, "and what to do"
    assert "signed in" not in line


def test_a_locked_keyring_makes_auto_fall_back_to_the_private_file(keyring_env, locked, oauth_env):
    env = {**keyring_env, **locked.env, "OAUTH_LOGIN_STORAGE": "auto"}
    login = run([*CLI, "login"], env)
    assert login.returncode == 0, login.stderr
    assert "signed in as alice@example.com" in login.stderr
    (notice,) = [line for line in login.stderr.splitlines() if "No usable keyring" in line]
    assert "Failed to unlock the collection" in notice
    assert "file" in notice
    assert len(list((oauth_env / "state" / "tokens").glob("*.json"))) == 1
    token = run([*CLI, "token"], env)
    assert token.returncode == 0, token.stderr
    assert len(token.stdout.strip()) > 20


def test_a_headless_box_without_a_login_collection_refuses_the_sign_in_at_once(
    keyring_env, tmp_path, recording_browser
):
    browser, opened = recording_browser
    with SecretService(tmp_path / "secret-service", login_collection=False) as activatable:
        env = {**keyring_env, **activatable.env, "BROWSER": browser}
        login = run([*CLI, "login", "--timeout", "15"], env, timeout=60)  # bounded if it regresses
        auto = run([*CLI, "status"], {**env, "OAUTH_LOGIN_STORAGE": "auto"}, timeout=60)
    assert login.returncode == 1, login.stderr
    assert not opened.exists()
    (line,) = login.stderr.strip().splitlines()
    assert "Prompt dismissed" in line, "the real cause, not only InitError"
    assert "OAUTH_LOGIN_STORAGE=file" in line
    assert auto.returncode == 0, auto.stderr
    assert "signed out" in auto.stdout  # auto quietly uses the file store there
