"""The last-resort receiver: the user pastes the address the browser ended on; nothing is echoed.

A paste-mode attempt waits for the address, not for its reader: Cancel, Ctrl-C and the deadlines end
it whatever the reader is doing. The terminal reader can itself be stopped, and it always puts the
terminal's echo back, so a Ctrl-C at the hidden prompt needs one press and leaves a usable terminal.
"""

from __future__ import annotations

import getpass
import os
import sys
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from ._errors import CallbackError

__all__ = [
    "PROMPT",
    "HiddenTerminalInput",
    "check_pasted_redirect",
    "read_pasted_redirect",
    "start_paste_reader",
]

PROMPT = "Paste the full address your browser shows after signing in (hidden): "
# How long stopping waits for the terminal reader to restore the terminal (it takes microseconds).
_STOP_SECONDS = 2.0


def check_pasted_redirect(redirect_uri: str, pasted: str) -> dict[str, str]:
    """The query parameters of the pasted address, which must start with ``redirect_uri``."""
    expected, got = urlsplit(redirect_uri), urlsplit(pasted.strip())
    if (got.scheme, got.netloc, got.path) != (expected.scheme, expected.netloc, expected.path):
        raise CallbackError(
            "the pasted address is not the redirect address of this sign-in",
            hint=f"paste the whole address that starts with {redirect_uri}",
        )
    return dict(parse_qsl(got.query, keep_blank_values=True))


def read_pasted_redirect(
    redirect_uri: str, *, read: Callable[[str], str] = getpass.getpass
) -> dict[str, str]:
    """Ask with ``read`` (hidden input by default), then ``check_pasted_redirect``."""
    return check_pasted_redirect(redirect_uri, read(PROMPT))


class HiddenTerminalInput:
    """One line from a terminal with echo off, that another thread can ``stop()``.

    ``getpass`` cannot be interrupted from another thread, and a process that exits while it waits
    leaves the terminal with echo off. Here the read waits on the terminal *and* a wake-up pipe, and
    the terminal's settings are restored however the read ends.
    """

    def __init__(self, fd: int, *, owns_fd: bool = False) -> None:
        self._fd = fd
        self._owns_fd = owns_fd
        self._wake_reader, self._wake_writer = os.pipe()
        self._stopped = threading.Event()

    @classmethod
    def open(cls) -> HiddenTerminalInput | None:
        """The controlling terminal, as ``getpass`` uses it; None without one, or in a Jupyter kernel
        (which replaces ``getpass.getpass`` to ask in the notebook) or on Windows."""
        if os.name != "posix" or getpass.getpass is not getattr(getpass, "unix_getpass", None):
            return None
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            return None
        if not os.isatty(fd):
            os.close(fd)
            return None
        return cls(fd, owns_fd=True)

    def read(self, prompt: str) -> str | None:
        """The line typed (without its newline); None when stopped or at end of input (Ctrl-D)."""
        import select
        import termios

        saved = termios.tcgetattr(self._fd)
        hidden = list(saved)
        hidden[3] &= ~termios.ECHO
        flush = termios.TCSAFLUSH | getattr(termios, "TCSASOFT", 0)
        termios.tcsetattr(self._fd, flush, hidden)
        try:
            os.write(self._fd, prompt.encode())
            line = b""
            while not line.endswith(b"\n"):
                ready, _, _ = select.select([self._fd, self._wake_reader], [], [])
                if self._wake_reader in ready:
                    return None
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    return None
                line += chunk
            return line.decode(errors="replace").rstrip("\r\n")
        finally:
            termios.tcsetattr(self._fd, flush, saved)
            os.write(self._fd, b"\n")  # the Enter the user typed was not echoed either

    def stop(self) -> None:
        """End a read in progress (from any thread); the terminal is restored by the reader."""
        if not self._stopped.is_set():
            self._stopped.set()
            os.write(self._wake_writer, b"x")

    def close(self) -> None:
        for fd in (self._wake_reader, self._wake_writer, *((self._fd,) if self._owns_fd else ())):
            os.close(fd)


def start_paste_reader(
    read: Callable[[str], str | None] | None,
    deliver: Callable[[str], None],
    give_up: Callable[[], None],
) -> Callable[[], None]:
    """Read the pasted address in a daemon thread and ``deliver`` it; returns a ``stop`` function.

    ``read`` None: the hidden terminal prompt (``give_up`` is called at Ctrl-D); ``stop`` ends it and
    waits (briefly) until the terminal is restored. Otherwise ``read(PROMPT)`` is called (a test, a
    kernel's ``getpass``); it returns the address, or None when the address is handed over some other
    way (``LoginAttempt.paste``, as the notebook panel does). Such a reader cannot be stopped: the
    attempt ends without it, and what it returns later is ignored.
    """
    terminal = HiddenTerminalInput.open() if read is None else None
    if terminal is not None:
        source: Callable[[str], str | None] = terminal.read
    else:
        source = read if read is not None else getpass.getpass

    def run() -> None:
        try:
            text = source(PROMPT)
        except EOFError:
            text = None
        except Exception as exc:  # noqa: BLE001 - a broken reader must end the attempt, not hang it
            print(f"oauth-login: could not read the pasted address ({type(exc).__name__})", file=sys.stderr)
            give_up()
            return
        if text is not None:
            deliver(text)
        elif read is None and (terminal is None or not terminal._stopped.is_set()):
            give_up()  # end of input at the prompt: the user has nothing to paste

    thread = threading.Thread(target=run, name="oauth-login-paste", daemon=True)
    thread.start()

    def stop() -> None:
        if terminal is not None:
            terminal.stop()
            thread.join(_STOP_SECONDS)
            if not thread.is_alive():
                terminal.close()

    return stop
