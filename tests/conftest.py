"""Shared fixtures: the dev OpenID provider, a headless browser thread, an isolated environment.

``idp`` and ``browser`` are session-scoped: starting node and Chromium once keeps the suite fast.
Nothing resets the provider's counters automatically; a test that reads ``idp.stats()`` calls
``idp.reset()`` first.
"""

from __future__ import annotations

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
