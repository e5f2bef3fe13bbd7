"""Unit tests never touch the user's state dir and never see another test's cached discovery."""

from __future__ import annotations

import pytest

from oauth_login._discovery import clear_cache


@pytest.fixture(autouse=True)
def _isolated_state(monkeypatch, tmp_path):
    monkeypatch.setenv("OAUTH_LOGIN_STATE_DIR", str(tmp_path / "oauth-login-state"))
    clear_cache()
    yield
    clear_cache()
