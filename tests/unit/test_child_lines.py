"""Reading a child process's output line by line never blocks a test past its bound."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import oauth_login
from tests.child_lines import ChildLines
from tests.integration.refresh_worker import round_of


@contextmanager
def child(code: str) -> Iterator[subprocess.Popen[str]]:
    """A Python child running ``code``; killed and its pipes closed when the block ends."""
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            yield proc
        finally:
            proc.kill()


def test_lines_arrive_in_order() -> None:
    with child("print('ready', flush=True); print('go', flush=True)") as proc:
        lines = ChildLines(proc.stdout, "worker 1")
        assert lines.line(30) == "ready\n"
        assert lines.line(30) == "go\n"


def test_a_child_that_says_nothing_fails_in_time_with_what_it_said() -> None:
    with child("import sys; print('ready', flush=True); sys.stdin.read()") as proc:  # then waits forever
        lines = ChildLines(proc.stdout, "worker 2")
        assert lines.line(30) == "ready\n"
        with pytest.raises(
            pytest.fail.Exception, match=r"worker 2 printed no line within 0\.2 s; so far: \['ready\\n'\]"
        ):
            lines.line(0.2)


def test_a_child_that_ends_early_fails_at_once() -> None:
    with child("print('ready')") as proc:
        lines = ChildLines(proc.stdout, "worker 3")
        lines.line(30)
        with pytest.raises(
            pytest.fail.Exception, match=r"worker 3's output ended; it printed: \['ready\\n'\]"
        ):
            lines.line(30)


@pytest.fixture
def stuck_get_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    release = threading.Event()

    def get_token() -> str:
        release.wait(30)
        return "token"

    monkeypatch.setattr(oauth_login, "get_token", get_token)
    yield release
    release.set()


def test_a_refresh_round_with_a_stuck_call_reports_it_instead_of_hanging(
    stuck_get_token: threading.Event,
) -> None:
    result = round_of(3, call_timeout=0.2)
    assert result["tokens"] == []
    assert result["errors"] == ["3 of 3 get_token() calls did not return within 0.2 s"]
