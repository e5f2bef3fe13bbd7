"""Tests for where oauth-login keeps files (oauth_login._paths)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from oauth_login import _paths
from oauth_login._errors import ConfigurationError
from oauth_login._paths import config_dir, config_file, ensure_private_dir, state_dir

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    for name in (
        "OAUTH_LOGIN_STATE_DIR",
        "OAUTH_LOGIN_CONFIG",
        "XDG_STATE_HOME",
        "XDG_CONFIG_HOME",
        "LOCALAPPDATA",
        "APPDATA",
    ):
        monkeypatch.delenv(name, raising=False)
    return home


def _pretend(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    monkeypatch.setattr(_paths, "_system", lambda: platform)


def test_state_dir_env_override_wins_everywhere(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_LOGIN_STATE_DIR", str(home / "custom"))
    for platform in ("linux", "darwin", "win32"):
        _pretend(monkeypatch, platform)
        assert state_dir() == home / "custom"


def test_state_dir_override_expands_user(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_LOGIN_STATE_DIR", "~/st")
    assert state_dir() == home / "st"


def test_linux_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend(monkeypatch, "linux")
    assert state_dir() == home / ".local" / "state" / "oauth-login"
    assert config_dir() == home / ".config" / "oauth-login"
    assert config_file() == home / ".config" / "oauth-login" / "profiles.toml"


def test_linux_xdg_variables(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend(monkeypatch, "freebsd14")
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "xs"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xc"))
    assert state_dir() == home / "xs" / "oauth-login"
    assert config_dir() == home / "xc" / "oauth-login"


def test_relative_xdg_variables_are_ignored(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend(monkeypatch, "linux")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    assert state_dir() == home / ".local" / "state" / "oauth-login"
    assert config_dir() == home / ".config" / "oauth-login"


def test_macos_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend(monkeypatch, "darwin")
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "ignored"))
    expected = home / "Library" / "Application Support" / "oauth-login"
    assert state_dir() == expected
    assert config_dir() == expected


def test_windows_defaults(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend(monkeypatch, "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(home / "Local"))
    monkeypatch.setenv("APPDATA", str(home / "Roaming"))
    assert state_dir() == home / "Local" / "oauth-login"
    assert config_dir() == home / "Roaming" / "oauth-login"


def test_windows_without_variables_falls_back_to_the_profile(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pretend(monkeypatch, "win32")
    assert state_dir() == home / "AppData" / "Local" / "oauth-login"
    assert config_dir() == home / "AppData" / "Roaming" / "oauth-login"


def test_xdg_variables_need_no_home_directory(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Containers with a random uid have neither HOME nor a passwd entry.
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    _pretend(monkeypatch, "linux")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "xs"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xc"))
    assert state_dir() == home / "xs" / "oauth-login"
    assert config_file() == home / "xc" / "oauth-login" / "profiles.toml"


def test_config_file_env_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_LOGIN_CONFIG", str(home / "my.toml"))
    assert config_file() == home / "my.toml"


def test_lookups_do_not_create_directories(home: Path) -> None:
    state_dir()
    config_dir()
    config_file()
    assert list(home.iterdir()) == []


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_ensure_private_dir_creates_parents_0700(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        target = ensure_private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old_umask)
    assert target == tmp_path / "a" / "b" / "c"
    assert target.is_dir()
    for path in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert _mode(path) == 0o700, path


@posix_only
def test_ensure_private_dir_tightens_an_existing_open_dir(tmp_path: Path) -> None:
    target = tmp_path / "open"
    target.mkdir()
    target.chmod(0o755)
    ensure_private_dir(target)
    assert _mode(target) == 0o700


@posix_only
def test_ensure_private_dir_is_idempotent(tmp_path: Path) -> None:
    ensure_private_dir(tmp_path / "d")
    (tmp_path / "d" / "kept").write_text("x")
    ensure_private_dir(tmp_path / "d")
    assert _mode(tmp_path / "d") == 0o700
    assert (tmp_path / "d" / "kept").read_text() == "x"


def test_ensure_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises((FileExistsError, NotADirectoryError)):
        ensure_private_dir(tmp_path / "file")


# --- untrusted directories (B3) -------------------------------------------------------------

ANOTHER_UID = 54321  # a uid nobody on the test machine uses; tests run as root, so chown works


def _owned_by_another_user(path: Path) -> Path:
    if os.getuid() != 0:  # pragma: no cover - CI and `make test` run as root
        pytest.fail("this test needs root to give a directory to another user (os.chown)")
    os.chown(path, ANOTHER_UID, ANOTHER_UID)
    return path


@posix_only
def test_ensure_private_dir_refuses_a_directory_of_another_user(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    _owned_by_another_user(shared)
    with pytest.raises(ConfigurationError) as caught:
        ensure_private_dir(shared)
    message = str(caught.value)
    assert str(shared) in message
    assert f"uid {ANOTHER_UID}" in message
    assert "OAUTH_LOGIN_STATE_DIR" in message, "the hint says how to use a directory of one's own"
    assert "\n" not in message
    assert _mode(shared) == 0o700 and shared.stat().st_uid == ANOTHER_UID, "left as it was"


@posix_only
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o1777], ids=oct)
def test_ensure_private_dir_refuses_a_directory_others_can_write(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(ConfigurationError) as caught:
        ensure_private_dir(shared)
    message = str(caught.value)
    assert str(shared) in message
    assert f"chmod 700 {shared}" in message
    assert "\n" not in message
    assert _mode(shared) == mode, "not silently tightened: files may have been planted already"


@posix_only
def test_check_private_dir_never_creates_and_refuses_the_same(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert _paths.check_private_dir(missing) is False
    assert not missing.exists()
    mine = ensure_private_dir(tmp_path / "mine")
    assert _paths.check_private_dir(mine) is True
    mine.chmod(0o750)  # readable by the group: nothing could be planted, so it is still usable
    assert _paths.check_private_dir(mine) is True
    mine.chmod(0o730)
    with pytest.raises(ConfigurationError, match="chmod 700"):
        _paths.check_private_dir(mine)
    mine.chmod(0o700)
    _owned_by_another_user(mine)
    with pytest.raises(ConfigurationError, match="another user"):
        _paths.check_private_dir(mine)


@posix_only
def test_state_dir_of_another_user_via_xdg_state_home_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pretend(monkeypatch, "linux")
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "xdg-state"))
    planted = home / "xdg-state" / "oauth-login"
    planted.mkdir(parents=True, mode=0o700)
    _owned_by_another_user(planted)
    with pytest.raises(ConfigurationError, match=str(planted)):
        ensure_private_dir(state_dir())
