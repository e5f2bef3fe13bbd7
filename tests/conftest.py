"""Shared fixtures: the dev OpenID provider, a headless browser thread, an isolated environment.

``idp`` and ``browser`` are session-scoped: starting node and Chromium once keeps the suite fast.
Nothing resets the provider's counters automatically; a test that reads ``idp.stats()`` calls
``idp.reset()`` first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# `devtools` lives at the repository root, outside the installed package.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from devtools.browser import BrowserThread
    from devtools.idp_process import DevIdP

OAUTH_LOGIN_ENV = (
    "OAUTH_LOGIN_STATE_DIR",
    "OAUTH_LOGIN_CONFIG",
    "OAUTH_LOGIN_STORAGE",
    "OAUTH_LOGIN_ISSUER",
    "OAUTH_LOGIN_CLIENT_ID",
    "OAUTH_LOGIN_SCOPES",
    "OAUTH_LOGIN_REDIRECT_URI",
    "OAUTH_LOGIN_MODE",
)

# The developer's real home, recorded before `_private_home` replaces HOME for the whole run.
REAL_HOME = Path(os.environ.get("HOME") or Path.home()).resolve()
# Each XDG base directory and where it goes inside the test home.
TEST_HOME_ENV = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "XDG_CACHE_HOME": ".cache",
}
# A keyring that works like a real one but is a file under XDG_DATA_HOME (keyrings.alt is in the
# `test` extra); naming it in PYTHON_KEYRING_BACKEND stops keyring from detecting the desktop's
# Secret Service, KWallet or macOS Keychain and from reading the user's keyringrc.cfg.
TEST_KEYRING_BACKEND = "keyrings.alt.file.PlaintextKeyring"


def _real_paths_to_guard() -> list[Path]:
    """What a test could damage in the developer's account, from the real home and XDG settings."""

    def xdg(name: str, fallback: str) -> Path:
        value = os.environ.get(name, "")
        return Path(value) if os.path.isabs(value) else REAL_HOME / fallback

    return [
        xdg("XDG_STATE_HOME", ".local/state") / "oauth-login",
        xdg("XDG_CONFIG_HOME", ".config") / "oauth-login",
        xdg("XDG_DATA_HOME", ".local/share") / "python_keyring",
        xdg("XDG_CONFIG_HOME", ".config") / "python_keyring",
    ]


def _snapshot(paths: list[Path]) -> dict[str, tuple[int, int] | None]:
    """Every file and directory under ``paths`` with its size and mtime; ``None`` for a missing path."""
    seen: dict[str, tuple[int, int] | None] = {}
    for root in paths:
        if not root.exists():
            seen[str(root)] = None
            continue
        for path in [root, *root.rglob("*")]:
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed while we looked: its absence is what counts
                continue
            seen[str(path)] = (info.st_size, info.st_mtime_ns)
    return seen


def _forget_keyring_backend() -> None:
    # keyring picks its backend once per process, on first use; drop a choice made under the real
    # environment (or by a test) so the next use reads PYTHON_KEYRING_BACKEND again.
    core = sys.modules.get("keyring.core")
    if core is not None:
        core._keyring_backend = None  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run every test, and every process it starts, with a private HOME, XDG dirs and keyring.

    Nothing can then reach the developer's ``~/.local/state/oauth-login``, profiles file or real
    keyring by default paths, and OAUTH_LOGIN_* from the caller's shell cannot change a result.
    A session bus address is dropped too, so no test talks to the desktop's Secret Service. At the
    end the real paths are compared with their state before the run: a test that wrote there by a
    path of its own (``pwd``, an absolute path) fails the run.
    """
    guarded = _real_paths_to_guard()
    before = _snapshot(guarded)
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        for name, relative in TEST_HOME_ENV.items():
            (home / relative).mkdir(parents=True, exist_ok=True)
            patch.setenv(name, str(home / relative))
        for name in [*OAUTH_LOGIN_ENV, *(k for k in os.environ if k.startswith("OAUTH_LOGIN_"))]:
            patch.delenv(name, raising=False)
        patch.setenv("PYTHON_KEYRING_BACKEND", TEST_KEYRING_BACKEND)
        patch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        _forget_keyring_backend()
        yield home
    _forget_keyring_backend()
    after = _snapshot(guarded)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, (
        f"the test run changed the developer's real files (or another process did meanwhile): {changed}"
    )


@pytest.fixture(autouse=True)
def _empty_module_api() -> Iterator[None]:
    """Each test starts with no ``OAuthClient`` in ``oauth_login._api`` and leaves none behind."""

    def reset() -> None:
        api = sys.modules.get("oauth_login._api")  # not imported yet: nothing to reset
        if api is None:
            return
        for client in list(api._clients.values()):
            client.cancel()  # a login still waiting in a thread must not outlive its test
        api._clients.clear()
        api._current = None
        api._notices_shown.clear()

    reset()
    yield
    reset()


@pytest.fixture(scope="session")
def idp() -> Iterator[DevIdP]:
    """A running dev provider (devtools/idp) on an ephemeral loopback port."""
    from devtools.idp_process import DevIdP  # imported here: unit tests never pay for it

    with DevIdP() as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[BrowserThread]:
    """Headless Debian Chromium in its own thread; ``browser.submit(complete_login, url)``."""
    from devtools.browser import BrowserThread  # imports playwright: only for tests that use it

    with BrowserThread() as thread:
        yield thread


@pytest.fixture
def oauth_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No OAUTH_LOGIN_* from the caller's shell; state, config and a file token store under tmp_path."""
    for name in OAUTH_LOGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OAUTH_LOGIN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OAUTH_LOGIN_CONFIG", str(tmp_path / "profiles.toml"))
    monkeypatch.setenv("OAUTH_LOGIN_STORAGE", "file")  # never the developer's real keyring
    return tmp_path


@pytest.fixture
def idp_env(oauth_env: Path, idp: DevIdP, monkeypatch: pytest.MonkeyPatch) -> DevIdP:
    """``oauth_env`` plus OAUTH_LOGIN_ISSUER/CLIENT_ID pointing at the dev provider's `notebook` client."""
    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", idp.issuer)
    monkeypatch.setenv("OAUTH_LOGIN_CLIENT_ID", "notebook")
    return idp
