"""Each unit test gets its own state dir and profiles file and never sees another test's cached discovery.

The whole run already has a private HOME, XDG dirs and keyring (tests/conftest.py); this keeps
what one unit test writes there out of the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oauth_login._discovery import clear_cache


@pytest.fixture(autouse=True)
def _isolated_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("OAUTH_LOGIN_STATE_DIR", str(tmp_path / "oauth-login-state"))
    monkeypatch.setenv("OAUTH_LOGIN_CONFIG", str(tmp_path / "oauth-login-profiles.toml"))
    clear_cache()
    yield
    clear_cache()
