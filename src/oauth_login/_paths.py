"""Where oauth-login keeps its state and configuration files on each platform.

Environment overrides come first (``OAUTH_LOGIN_STATE_DIR``, ``OAUTH_LOGIN_CONFIG``), then the
platform's conventions: XDG base directories on Linux and the BSDs, ``~/Library/Application Support``
on macOS, ``%LOCALAPPDATA%`` / ``%APPDATA%`` on Windows. Nothing here creates a directory except
:func:`ensure_private_dir`, so looking up a path never touches the disk. A directory that holds
tokens must be ours and writable by us alone (:func:`check_private_dir`), wherever it comes from.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from ._errors import ConfigurationError

__all__ = ["check_private_dir", "config_dir", "config_file", "ensure_private_dir", "state_dir"]

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

    An existing directory must be one we can trust with tokens (see :func:`check_private_dir`);
    if it is ours and merely readable by group or others it is tightened to 0700. On Windows the
    per-user profile directories already carry a private ACL, so only creation happens there.
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
    info = _require_trusted(directory)
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, _PRIVATE_DIR_MODE)
    return directory


def check_private_dir(path: str | os.PathLike[str]) -> bool:
    """Say whether ``path`` exists, never creating it; raise if it cannot be trusted with tokens.

    A directory owned by another user, or one that group or others can write to, may hold files
    someone else put there (a planted token, a lock held forever, a link to a FIFO): it is refused
    with a :class:`ConfigurationError` that names it and the fix, rather than quietly used.
    """
    directory = Path(path)
    if sys.platform == "win32":
        return directory.is_dir()
    try:
        _require_trusted(directory)
    except FileNotFoundError:
        return False
    return True


def _require_trusted(directory: Path) -> os.stat_result:
    info = os.stat(directory)  # follows a symlink: what matters is the directory it leads to
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    if info.st_uid != os.getuid():
        raise ConfigurationError(
            f"The directory {directory} belongs to another user (uid {info.st_uid}), "
            "so it cannot be trusted with tokens",
            hint="set OAUTH_LOGIN_STATE_DIR to a directory of your own (oauth-login creates it 0700)",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise ConfigurationError(
            f"The directory {directory} can be written by group or others (mode {mode:04o}), "
            "so it cannot be trusted with tokens",
            hint=f"run chmod 700 {directory} and check what is in it, "
            "or set OAUTH_LOGIN_STATE_DIR to a private directory",
        )
    return info


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
