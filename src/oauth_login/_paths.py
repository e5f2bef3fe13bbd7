"""Where oauth-login keeps its state and configuration files on each platform.

Environment overrides come first (``OAUTH_LOGIN_STATE_DIR``, ``OAUTH_LOGIN_CONFIG``), then the
platform's conventions: XDG base directories on Linux and the BSDs, ``~/Library/Application Support``
on macOS, ``%LOCALAPPDATA%`` / ``%APPDATA%`` on Windows. Nothing here creates a directory except
:func:`ensure_private_dir`, so looking up a path never touches the disk.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

__all__ = ["config_dir", "config_file", "ensure_private_dir", "state_dir"]

_APP_NAME = "oauth-login"
_PRIVATE_DIR_MODE = 0o700


def _system() -> str:
    # Read at call time (not import time) so tests can pretend to be another platform.
    return sys.platform


def _xdg_dir(variable: str, *fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The XDG spec says relative paths in these variables are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home().joinpath(*fallback)


def _windows_dir(variable: str, *fallback: str) -> Path:
    value = os.environ.get(variable, "")
    return Path(value) if value else Path.home().joinpath(*fallback)


def state_dir() -> Path:
    """Return the directory for tokens and lock files (not created here)."""
    override = os.environ.get("OAUTH_LOGIN_STATE_DIR", "")
    if override:
        return Path(override).expanduser().absolute()
    system = _system()
    if system == "win32":
        return _windows_dir("LOCALAPPDATA", "AppData", "Local") / _APP_NAME
    if system == "darwin":
        return Path.home() / "Library" / "Application Support" / _APP_NAME
    return _xdg_dir("XDG_STATE_HOME", ".local", "state") / _APP_NAME


def config_dir() -> Path:
    """Return the directory that holds ``profiles.toml`` (not created here)."""
    system = _system()
    if system == "win32":
        return _windows_dir("APPDATA", "AppData", "Roaming") / _APP_NAME
    if system == "darwin":
        return Path.home() / "Library" / "Application Support" / _APP_NAME
    return _xdg_dir("XDG_CONFIG_HOME", ".config") / _APP_NAME


def config_file() -> Path:
    """Return the profiles file: ``$OAUTH_LOGIN_CONFIG`` or ``config_dir()/profiles.toml``."""
    override = os.environ.get("OAUTH_LOGIN_CONFIG", "")
    if override:
        return Path(override).expanduser().absolute()
    return config_dir() / "profiles.toml"


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) with mode 0700 and return it.

    An existing directory that we own is tightened to 0700 if group or others can reach it,
    because it holds tokens. A directory owned by someone else is left alone: chmod would fail,
    and whoever set it up (an admin, a shared ``OAUTH_LOGIN_STATE_DIR``) chose its mode.
    On Windows the per-user profile directories already carry a private ACL, so only creation
    happens there.
    """
    directory = Path(path)
    if sys.platform == "win32":
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    created = _make_dirs(directory)
    if created:
        # mkdir's mode is filtered by the umask; make the result exact whatever the umask is.
        os.chmod(directory, _PRIVATE_DIR_MODE)
        return directory
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, _PRIVATE_DIR_MODE)
    return directory


def _make_dirs(directory: Path) -> bool:
    """Create ``directory`` and missing ancestors with mode 0700; return whether it was created.

    ``os.makedirs(mode=...)`` applies the mode to the leaf only; ancestors such as
    ``~/.local/state`` should be private too (the XDG spec asks for 0700 when creating them).
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for item in reversed(missing):
        try:
            os.mkdir(item, _PRIVATE_DIR_MODE)
        except FileExistsError:
            # Another process created it between our check and mkdir: fine if it is a directory.
            if not item.is_dir():
                raise
            if item == directory:
                return False
    return bool(missing)
