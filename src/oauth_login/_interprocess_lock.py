"""An exclusive lock on a lock file that excludes other threads and other processes alike.

Refreshing tokens must be single-flight across kernels: providers rotate refresh tokens, and two
processes spending the same one can revoke the whole grant. Each lock is two locks taken in order:

1. a ``threading.Lock`` shared by every :class:`InterprocessLock` on the same path in this process
   (a module-level registry keyed by the resolved path), so threads exclude each other explicitly
   rather than relying on how the OS treats two descriptors of one file in one process;
2. an OS lock on the lock file: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows. The OS
   drops it when the process dies, so a crashed kernel never leaves a stale lock behind.

Lock files are created 0600 in a private (0700) directory and never deleted: deleting a lock file
while another process has it open lets a third process lock a new file of the same name, and then
two processes hold "the" lock at once. A lock file that is not a regular file of ours (a FIFO, a
symlink, another user's file) is refused rather than waited on, and every wait is bounded
(:data:`DEFAULT_TIMEOUT`) so a stuck holder gives a clear error instead of a hang.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from ._errors import StorageError
from ._paths import ensure_private_dir

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

__all__ = ["DEFAULT_TIMEOUT", "InterprocessLock", "LockTimeoutError"]

# The longest a holder needs: a refresh under the lock makes up to three token requests of 30 s
# each plus keyring calls; far longer means the holder is stuck (a suspended kernel, a debugger).
DEFAULT_TIMEOUT = 180.0

_registry_guard = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}

# Polling bounds when a timeout is given: start fast so an uncontended hand-over costs ~1 ms,
# back off so a long wait does not spin.
_FIRST_POLL = 0.001
_MAX_POLL = 0.05


class LockTimeoutError(StorageError, TimeoutError):
    """Another thread or process held the lock for longer than the wait allowed."""

    default_hint = (
        "another oauth-login process is using these tokens: let it finish (or stop it) and try again"
    )


def _thread_lock_for(path: str) -> threading.Lock:
    with _registry_guard:
        lock = _thread_locks.get(path)
        if lock is None:
            lock = _thread_locks[path] = threading.Lock()
        return lock


def _reset_registry_in_child() -> None:
    # Only the forking thread survives a fork; thread locks held by the others would stay held
    # forever in the child. A fresh registry is right: the OS lock still excludes the parent.
    global _registry_guard, _thread_locks  # noqa: PLW0603 -- replaced wholesale after fork on purpose
    _registry_guard = threading.Lock()
    _thread_locks = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_registry_in_child)


class InterprocessLock:
    """Exclusive lock on ``path`` across threads and processes; not reentrant.

    Use as a context manager, or call :meth:`acquire` and :meth:`release`. Two instances for the
    same path exclude each other, in one process or in several. ``timeout`` (seconds) bounds every
    wait that does not give its own; ``None`` waits forever.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        given = Path(path)
        # Resolve the directory only: a lock file that is itself a symlink must be refused, not followed.
        self.path = Path(os.path.realpath(given.parent)) / given.name
        self.timeout = timeout
        self._thread_lock = _thread_lock_for(str(self.path))
        self._fd: int | None = None

    def __repr__(self) -> str:
        state = "held" if self._fd is not None else "free"
        return f"<InterprocessLock {str(self.path)!r} {state}>"

    def __enter__(self) -> InterprocessLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self, timeout: float | None = None) -> None:
        """Block until the lock is held, at most ``timeout`` seconds (default: the lock's own).

        Raises :class:`LockTimeoutError` (a ``TimeoutError``) when the wait runs out, and
        :class:`StorageError` for a lock file that is not a private regular file of ours.
        """
        if timeout is None:
            timeout = self.timeout
        if timeout is None:
            self._thread_lock.acquire()
            self._fd = self._lock_file(deadline=None)
            return
        wait = max(0.0, timeout)
        deadline = time.monotonic() + wait
        if not self._thread_lock.acquire(timeout=wait):
            raise self._timeout_error(wait)
        fd = self._lock_file(deadline)
        if fd is None:
            raise self._timeout_error(wait)
        self._fd = fd

    def release(self) -> None:
        """Release the lock; raise ``RuntimeError`` if this object does not hold it."""
        fd = self._fd
        if fd is None:
            raise RuntimeError(f"release of an unheld lock on {self.path}")
        self._fd = None
        try:
            _unlock(fd)
        finally:
            # Closing the descriptor releases the OS lock even if unlocking failed.
            os.close(fd)
            self._thread_lock.release()

    def _lock_file(self, deadline: float | None) -> int | None:
        """Open and lock the file, the thread lock being held; on failure or timeout let go of both."""
        locked = False
        try:
            ensure_private_dir(self.path.parent)
            fd = self._open()
            try:
                if deadline is None:
                    _lock_blocking(fd)
                    locked = True
                else:
                    locked = _lock_polling(fd, deadline)
            finally:
                if not locked:
                    os.close(fd)
        finally:
            if not locked:
                self._thread_lock.release()
        return fd if locked else None

    def _open(self) -> int:
        # O_NONBLOCK: opening a FIFO planted under our name must not hang; it is refused below.
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            # O_NOFOLLOW reports a symlink as ELOOP (Linux, macOS) or EMLINK (FreeBSD).
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise self._untrusted("is a symbolic link") from exc
            raise
        if sys.platform == "win32":
            return fd
        info = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = "is not a regular file"
        elif info.st_uid != os.getuid():
            problem = f"belongs to another user (uid {info.st_uid})"
        elif stat.S_IMODE(info.st_mode) & 0o022:
            problem = f"can be written by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
        if problem is not None:
            os.close(fd)
            raise self._untrusted(problem)
        return fd

    def _untrusted(self, problem: str) -> StorageError:
        return StorageError(
            f"The lock file {self.path} {problem}, so it was not used",
            hint=f"delete {self.path} (oauth-login creates a new one) and try again",
        )

    def _timeout_error(self, timeout: float) -> LockTimeoutError:
        return LockTimeoutError(
            f"Timed out after {timeout:g} s waiting for the lock {self.path} "
            "(another thread or process holds it)"
        )


if sys.platform == "win32":

    def _try_lock(fd: int) -> bool:
        # msvcrt locks byte ranges from the current position; always lock byte 0 (it may lie
        # beyond the end of the empty file, which Windows allows).
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _lock_blocking(fd: int) -> None:
        # LK_LOCK gives up after ~10 s, so a true blocking wait has to poll.
        delay = _FIRST_POLL
        while not _try_lock(fd):
            time.sleep(delay)
            delay = min(delay * 2, _MAX_POLL)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _lock_blocking(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _lock_polling(fd: int, deadline: float) -> bool:
    delay = _FIRST_POLL
    while True:
        if _try_lock(fd):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_POLL)
