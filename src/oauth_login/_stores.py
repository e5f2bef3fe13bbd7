"""Token stores: keep one JSON entry per profile in the keyring, a private file, or memory.

Every store wraps the caller's dict as ``{"v": 1, "entry": {...}}`` so a later format can be told
apart, treats a corrupt entry as missing (with a :class:`TokenStoreWarning` that names the store
and key, never the content), and hands out an :class:`InterprocessLock` per key so a refresh can
be single-flight across threads and processes: lock, re-read, refresh, save.

Secrets never appear in a store's logs, warnings, exception messages or ``repr()``.

Every store can be asked, before a sign-in starts, whether it can keep what the sign-in returns
(:meth:`TokenStore.check_writable`): a browser flow whose tokens are then dropped helps nobody.
Every keyring call runs in a daemon thread and is given at most :data:`KEYRING_TIMEOUT` seconds,
because a locked keyring's unlock dialog that nobody answers would otherwise block forever, and
its errors carry the backend's own words (``Prompt dismissed``), not just an exception's name.
``auto`` storage uses the keyring only if it is a system keyring (not keyrings.alt's files) that
answers a read; otherwise a private file, with a notice that says why.

Files and directories are trusted only if they are ours and private: a directory someone else
owns or can write to is refused (``_paths.check_private_dir``), token files are opened without
following links and checked with ``fstat``, and every lock wait is bounded.

``keyring`` is imported only inside functions: resolving its backend is slow, and
``import oauth_login`` must stay cheap.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import sys
import threading
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from ._errors import ConfigurationError, StorageError
from ._interprocess_lock import DEFAULT_TIMEOUT, InterprocessLock
from ._keyring_backend import KEYRING_TIMEOUT, backend_name, call_keyring, keyring_is_usable
from ._paths import check_private_dir, ensure_private_dir, state_dir

__all__ = [
    "ENTRY_FORMAT_VERSION",
    "KEYRING_MAX_ENTRY_CHARS",
    "KEYRING_TIMEOUT",
    "LOCK_TIMEOUT",
    "STORAGE_KINDS",
    "WINDOWS_KEYRING_MAX_ENTRY_CHARS",
    "FileStore",
    "KeyringStore",
    "MemoryStore",
    "TokenStore",
    "TokenStoreWarning",
    "keyring_is_usable",
    "safe_key",
    "select_store",
]

_logger = logging.getLogger("oauth_login")

ENTRY_FORMAT_VERSION = 1

# Backstop for Windows' credential blob limit (CRED_MAX_CREDENTIAL_BLOB_SIZE, 2560 bytes); the
# Credentials layer compacts entries before saving so this should never trigger.
KEYRING_MAX_ENTRY_CHARS = 2500
# keyring's Windows backend stores the value as UTF-16, so those 2560 bytes hold only 1280
# characters (jaraco/keyring#355, #540); larger values fail with an opaque "stub received bad data".
WINDOWS_KEYRING_MAX_ENTRY_CHARS = 1280

STORAGE_KINDS = ("auto", "keyring", "file", "memory")

# How long a store's lock is waited for (see _interprocess_lock.DEFAULT_TIMEOUT).
LOCK_TIMEOUT = DEFAULT_TIMEOUT

# check_writable() writes and deletes its probe entry under the service name plus this suffix, so
# the probe can never be mistaken for (or overwrite) a profile's entry.
_PROBE_SERVICE_SUFFIX = " (write check)"

_T = TypeVar("_T")

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_MAX_SAFE_KEY_CHARS = 64
# Device names that Windows refuses as file names whatever the extension.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)


class TokenStoreWarning(UserWarning):
    """A stored token entry was unreadable and has been ignored (signing in again replaces it)."""


@runtime_checkable
class TokenStore(Protocol):
    """Where a profile's token entry lives. Keys are profile keys such as ``default`` or ``work``."""

    name: str
    """``"keyring"``, ``"file"`` or ``"memory"``."""
    notice: str | None
    """One line for users about how this store was chosen (e.g. no keyring), or ``None``."""

    def load(self, key: str) -> dict[str, Any] | None:
        """Return the entry for ``key``; ``None`` if missing or corrupt (corrupt also warns)."""
        ...

    def save(self, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` (JSON-serialisable) for ``key``, replacing any previous one atomically."""
        ...

    def delete(self, key: str) -> None:
        """Remove the entry for ``key``; a missing entry is not an error."""
        ...

    def lock(self, key: str) -> InterprocessLock:
        """Return a lock for ``key`` that is exclusive across threads and processes."""
        ...

    def describe(self) -> str:
        """One line for users saying where tokens are kept."""
        ...

    def check_writable(self, key: str) -> None:
        """Raise (with the real cause and what to do) unless an entry for ``key`` could be saved now.

        Called before a sign-in opens the browser, so a sign-in whose tokens could not be kept is
        refused at once instead of after the user went through the provider's pages.
        """
        ...


def safe_key(key: str) -> str:
    """Map a store key to a file-name-safe string, distinct for distinct keys.

    Keeps ``[A-Za-z0-9._-]`` and maps other characters to ``_``. Whenever that changed anything,
    and also for upper case (case-insensitive file systems would merge ``Work`` and ``work``), a
    leading dot (hidden files, ``..``), over-long keys and Windows device names, a short sha256 of
    the raw key is appended so two keys never share a file.
    """
    if not key:
        raise ValueError("a token store key must not be empty")
    safe = _UNSAFE_CHARS.sub("_", key).lower()
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if safe.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        # Windows treats "nul.anything" as the device too, so the name itself must change.
        safe = "_" + safe
    safe = safe[:_MAX_SAFE_KEY_CHARS]
    if safe == key:
        return safe
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe}-{digest}"


def _encode(entry: dict[str, Any]) -> str:
    if not isinstance(entry, dict):
        raise TypeError(f"a token store entry must be a dict, not {type(entry).__name__}")
    # json's own errors name the offending type or float value, never the other contents.
    return json.dumps({"v": ENTRY_FORMAT_VERSION, "entry": entry}, separators=(",", ":"), allow_nan=False)


class _CorruptEntryError(Exception):
    """Why a stored value cannot be read; the reason never quotes the value."""


def _decode(raw: str | bytes) -> dict[str, Any]:
    try:
        wrapper = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _CorruptEntryError("it is not valid JSON") from exc
    if not isinstance(wrapper, dict):
        raise _CorruptEntryError("it is not a JSON object")
    if wrapper.get("v") != ENTRY_FORMAT_VERSION:
        raise _CorruptEntryError(
            f"its format version is not {ENTRY_FORMAT_VERSION} (written by another version of oauth-login?)"
        )
    entry = wrapper.get("entry")
    if not isinstance(entry, dict):
        raise _CorruptEntryError("it has no entry object")
    return entry


def _warn_corrupt(store: str, key: str, reason: str) -> None:
    warnings.warn(
        f"Ignoring the {store} token entry for {key!r}: {reason}. Signing in again replaces it.",
        TokenStoreWarning,
        stacklevel=3,
    )


def _display_path(path: Path) -> str:
    text = str(path)
    try:
        home = str(Path.home())
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (containers with random uids)
        return text
    if home not in ("", os.sep) and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def _locks_dir() -> Path:
    # The state directory itself must be trustworthy too: whoever can write it can swap "locks".
    return ensure_private_dir(state_dir()) / "locks"


class MemoryStore:
    """Keeps entries in this process only; they are gone when it exits.

    Entries are stored serialised, so callers never share mutable state with the store and an
    entry that other stores would reject is rejected here too.
    """

    name = "memory"

    def __init__(self) -> None:
        self.notice: str | None = None
        self._entries: dict[str, str] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return "<MemoryStore (this process only)>"

    def load(self, key: str) -> dict[str, Any] | None:
        with self._guard:
            raw = self._entries.get(key)
        if raw is None:
            return None
        return _decode(raw)  # we encoded it ourselves, so it cannot be corrupt

    def save(self, key: str, entry: dict[str, Any]) -> None:
        raw = _encode(entry)
        with self._guard:
            self._entries[key] = raw

    def delete(self, key: str) -> None:
        with self._guard:
            self._entries.pop(key, None)

    def lock(self, key: str) -> InterprocessLock:
        return InterprocessLock(_locks_dir() / f"memory-{safe_key(key)}.lock", timeout=LOCK_TIMEOUT)

    def describe(self) -> str:
        return "memory store (this process only; tokens are lost when it exits)"

    def check_writable(self, key: str) -> None:
        safe_key(key)  # only an empty key could fail


class FileStore:
    """One private JSON file per key, ``<directory>/<safe-key>.json``, replaced atomically.

    The directory is 0700 and files are created 0600. A write goes to a temporary file in the same
    directory which is flushed, fsynced and renamed over the old one, so a reader (or a crash)
    sees either the old entry or the new one, never a mix.
    """

    name = "file"

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.notice: str | None = None
        if directory is None:
            # The state directory is checked too: whoever can write it could swap "tokens".
            self._parent: Path | None = state_dir()
            self.directory = self._parent / "tokens"
        else:
            self._parent = None
            self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"<FileStore {str(self.directory)!r}>"

    def path_for(self, key: str) -> Path:
        """Return the file that holds ``key``'s entry (it may not exist)."""
        return self.directory / f"{safe_key(key)}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        path = self.path_for(key)
        if self._parent is not None and not check_private_dir(self._parent):
            return None
        if not check_private_dir(self.directory):
            return None
        raw = _read_private_file(path)
        if raw is None:
            return None
        try:
            return _decode(raw)
        except _CorruptEntryError as exc:
            # Left in place (it may help diagnose what wrote it); the next save replaces it.
            _warn_corrupt("file store", key, f"{exc} ({path})")
            return None

    def save(self, key: str, entry: dict[str, Any]) -> None:
        data = _encode(entry).encode("utf-8")
        self._ensure_directory()
        target = self.path_for(key)
        temporary = self.directory / f".{target.name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
        fd = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.directory)

    def delete(self, key: str) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self.path_for(key))  # unlink never follows a symlink

    def lock(self, key: str) -> InterprocessLock:
        # Next to the token files so two FileStores on different directories never contend.
        if self._parent is not None:
            ensure_private_dir(self._parent)
        return InterprocessLock(self.directory / f"{safe_key(key)}.lock", timeout=LOCK_TIMEOUT)

    def describe(self) -> str:
        return f"file store at {_display_path(self.directory)} (0600)"

    def check_writable(self, key: str) -> None:
        self._ensure_directory()
        probe = self.directory / f".{safe_key(key)}.write-check.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as exc:
            raise StorageError(
                f"The token directory {self.directory} cannot be written ({exc.strerror or exc})",
                hint="fix its permissions, or set OAUTH_LOGIN_STATE_DIR to a directory of your own",
            ) from exc
        os.close(fd)
        os.unlink(probe)

    def _ensure_directory(self) -> None:
        if self._parent is not None:
            ensure_private_dir(self._parent)
        ensure_private_dir(self.directory)


def _read_private_file(path: Path) -> bytes | None:
    """The file's bytes, or ``None`` if it is missing; refuse anything but a private file of ours.

    Not following a final symlink and not blocking on a FIFO (``O_NOFOLLOW | O_NONBLOCK``), then
    checking what was opened (``fstat``), leaves no window in which the file can be swapped.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        # O_NOFOLLOW reports a symlink as ELOOP (Linux, macOS) or EMLINK (FreeBSD).
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise _untrusted_token_file(path, "is a symbolic link") from exc
        raise StorageError(f"The token file {path} could not be read ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as file:
        if sys.platform != "win32":
            info = os.fstat(fd)
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode):
                raise _untrusted_token_file(path, "is not a regular file")
            if info.st_uid != os.getuid():
                raise _untrusted_token_file(path, f"belongs to another user (uid {info.st_uid})")
            if mode & 0o077:
                raise _untrusted_token_file(
                    path, f"can be read or written by group or others (mode {mode:04o})"
                )
        return file.read()


def _untrusted_token_file(path: Path, problem: str) -> StorageError:
    return StorageError(
        f"The token file {path} {problem}, so it was not used",
        hint=f"delete {path} and sign in again",
    )


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX. Best effort: some file systems refuse it, and the
    # entry is already complete either way.
    if os.name == "nt":
        return
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class KeyringStore:
    """One keyring entry per key (service ``service``, username = key, value = compact JSON).

    The keyring has no locking of its own, so locks are files under ``state_dir()/locks``. Each
    call to the keyring is bounded by ``timeout`` seconds (default ``KEYRING_TIMEOUT``).
    """

    name = "keyring"

    def __init__(self, service: str = "oauth-login", *, timeout: float | None = None) -> None:
        self.notice: str | None = None
        self.service = service
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<KeyringStore service={self.service!r}>"

    @property
    def max_entry_chars(self) -> int:
        """The longest serialised value :meth:`save` accepts on this platform."""
        return WINDOWS_KEYRING_MAX_ENTRY_CHARS if sys.platform == "win32" else KEYRING_MAX_ENTRY_CHARS

    def load(self, key: str) -> dict[str, Any] | None:
        import keyring

        raw = self._call("read the tokens", keyring.get_password, self.service, key)
        if raw is None:
            return None
        try:
            return _decode(raw)
        except _CorruptEntryError as exc:
            _warn_corrupt(f"keyring store (service {self.service!r})", key, str(exc))
            return None

    def save(self, key: str, entry: dict[str, Any]) -> None:
        raw = _encode(entry)
        limit = self.max_entry_chars
        if len(raw) > limit:
            raise ValueError(
                f"The token entry for {key!r} is {len(raw)} characters once serialised, more than the "
                f"keyring's limit of {limit}; set OAUTH_LOGIN_STORAGE=file to keep tokens in a private file."
            )
        import keyring

        self._call("store the tokens", keyring.set_password, self.service, key, raw, secret=raw)

    def delete(self, key: str) -> None:
        import keyring
        import keyring.errors

        def delete() -> None:
            with suppress(keyring.errors.PasswordDeleteError):  # nothing stored: nothing to do
                keyring.delete_password(self.service, key)

        self._call("delete the tokens", delete)

    def lock(self, key: str) -> InterprocessLock:
        name = f"keyring-{safe_key(self.service)}-{safe_key(key)}.lock"
        return InterprocessLock(_locks_dir() / name, timeout=LOCK_TIMEOUT)

    def describe(self) -> str:
        return f"keyring store (service {self.service!r}, backend {backend_name()})"

    def check_writable(self, key: str) -> None:
        """Write and delete a probe entry (its own service name, so no real entry is touched)."""
        import keyring
        import keyring.errors

        service = self.service + _PROBE_SERVICE_SUFFIX
        value = "oauth-login checks that it can store tokens here; this entry can be deleted"

        def probe() -> None:
            keyring.set_password(service, key, value)
            with suppress(keyring.errors.PasswordDeleteError):  # another process's probe took it
                keyring.delete_password(service, key)

        self._call("store the tokens", probe)

    def _call(self, what: str, function: Callable[..., _T], *args: Any, secret: str | None = None) -> _T:
        return call_keyring(what, function, *args, timeout=self.timeout, secret=secret)


_shared_memory_store: MemoryStore | None = None
_memory_store_guard = threading.Lock()
_logged_notices: set[str] = set()


def _memory_store() -> MemoryStore:
    # One per process, so every client of a profile in this process sees the same tokens, as it
    # would with the keyring or a file.
    global _shared_memory_store  # noqa: PLW0603 -- a lazily created process-wide singleton
    with _memory_store_guard:
        if _shared_memory_store is None:
            _shared_memory_store = MemoryStore()
        return _shared_memory_store


def select_store(kind: str | None = None) -> TokenStore:
    """Return the token store for ``kind``: ``auto``, ``keyring``, ``file`` or ``memory``.

    ``None`` means ``$OAUTH_LOGIN_STORAGE``, defaulting to ``auto``: the keyring when it is
    usable, else a private file, with a one-line notice logged once per process and kept in
    ``store.notice`` for UIs. ``memory`` returns one store shared by the whole process.
    Raises :class:`ConfigurationError` (a ``ValueError``) for an unknown kind, or for ``keyring``
    when no usable keyring exists.
    """
    if kind is None:
        kind = os.environ.get("OAUTH_LOGIN_STORAGE", "").strip() or "auto"
    normalised = kind.strip().lower()
    if normalised not in STORAGE_KINDS:
        # The message already says what to do, so no separate hint.
        raise ConfigurationError(
            f"OAUTH_LOGIN_STORAGE must be one of {', '.join(STORAGE_KINDS)} (got {kind!r})", hint=""
        )
    if normalised == "memory":
        return _memory_store()
    if normalised == "file":
        return FileStore()
    usable, reason = keyring_is_usable()
    if usable:
        return KeyringStore()
    if normalised == "keyring":
        raise ConfigurationError(
            f"The keyring was requested but is not usable ({reason})",
            hint="set OAUTH_LOGIN_STORAGE=file to keep tokens in a file readable only by you",
        )
    store = FileStore()
    store.notice = (
        f"No usable keyring ({reason}); tokens are kept in a file readable only by you: {store.directory}"
    )
    if store.notice not in _logged_notices:
        _logged_notices.add(store.notice)
        _logger.info(store.notice)
    return store
