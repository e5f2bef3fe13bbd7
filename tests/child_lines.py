"""A child process's output read line by line in a thread, so every wait on it has a bound.

``readline()`` on a pipe has no timeout: a child that hangs would hold the test until pytest's own
timeout, which says nothing about why. ``ChildLines.line(timeout)`` fails at once with the child's
name and what it printed so far.
"""

from __future__ import annotations

import queue
import threading
from typing import IO

import pytest


class ChildLines:
    """Lines of ``stream`` (a child's stdout or stderr in text mode) as they arrive."""

    def __init__(self, stream: IO[str] | None, name: str) -> None:
        if stream is None:
            raise ValueError(f"{name}: start the child with stdout=subprocess.PIPE")
        self.name = name
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._pump, args=(stream,), name=f"lines of {name}", daemon=True
        )
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        except (OSError, ValueError):
            pass  # the test closed the pipe (Popen's __exit__) while we read: that is the end too
        self._lines.put(None)  # end of output: the child closed it or exited

    def line(self, timeout: float) -> str:
        """The next line; fails the test if none comes within ``timeout`` seconds or the output ends."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"{self.name} printed no line within {timeout:g} s; so far: {self.seen!r}")
        if line is None:
            self._lines.put(None)  # stays ended for the next call
            pytest.fail(f"{self.name}'s output ended; it printed: {self.seen!r}")
        self.seen.append(line)
        return line
