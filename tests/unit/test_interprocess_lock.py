"""Tests for the thread- and process-exclusive lock (oauth_login._interprocess_lock)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import oauth_login._interprocess_lock as lock_module
from oauth_login._errors import ConfigurationError, StorageError
from oauth_login._interprocess_lock import InterprocessLock

SRC = Path(lock_module.__file__).resolve().parents[1]

# Children talk over stdin/stdout: they print "ready" and wait for a line before working, so the
# test never sleeps to synchronise.
COUNTER_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from oauth_login._interprocess_lock import InterprocessLock

    lock_path, counter_path, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(rounds):
        with InterprocessLock(lock_path):
            value = int(counter_path.read_text() or "0")
            counter_path.write_text(str(value + 1))
    """
)

HOLDER_CHILD = textwrap.dedent(
    """
    import sys
    from oauth_login._interprocess_lock import InterprocessLock

    with InterprocessLock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_excludes_threads_using_separate_lock_objects(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "counter.lock"
    counter = [0]
    threads_count, rounds = 8, 50
    start = threading.Barrier(threads_count)

    def work() -> None:
        lock = InterprocessLock(path)  # one object per thread: exclusion must come from the registry
        start.wait()
        for _ in range(rounds):
            with lock:
                value = counter[0]
                time.sleep(0)  # yield so an unprotected read-modify-write would lose updates
                counter[0] = value + 1

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter[0] == threads_count * rounds


def test_excludes_threads_sharing_one_lock_object(tmp_path: Path) -> None:
    lock = InterprocessLock(tmp_path / "shared.lock")
    counter = [0]

    def work() -> None:
        for _ in range(50):
            with lock:
                value = counter[0]
                time.sleep(0)
                counter[0] = value + 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter[0] == 200


def test_excludes_processes(tmp_path: Path) -> None:
    lock_path = tmp_path / "locks" / "counter.lock"
    counter_path = tmp_path / "counter.txt"
    counter_path.write_text("0")
    children = [_spawn(COUNTER_CHILD, str(lock_path), str(counter_path), "50") for _ in range(4)]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            assert child.wait(timeout=60) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()
    assert counter_path.read_text() == "200"


def test_timeout_when_another_process_holds_the_lock(tmp_path: Path) -> None:
    lock_path = tmp_path / "locks" / "held.lock"
    holder = _spawn(HOLDER_CHILD, str(lock_path))
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        lock = InterprocessLock(lock_path)
        with pytest.raises(TimeoutError) as caught:
            lock.acquire(timeout=0.2)
        message = str(caught.value)
        assert str(lock.path) in message
        assert "\n" not in message
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        # The failed attempt left nothing held in this process: the lock is free again.
        lock.acquire(timeout=10)
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdin.close()
        holder.stdout.close()


def test_timeout_between_threads_and_recovery(tmp_path: Path) -> None:
    path = tmp_path / "t.lock"
    holding, finish = threading.Event(), threading.Event()

    def hold() -> None:
        with InterprocessLock(path):
            holding.set()
            finish.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(timeout=10)
        other = InterprocessLock(path)
        with pytest.raises(TimeoutError, match=r"t\.lock"):
            other.acquire(timeout=0)
        with pytest.raises(TimeoutError):
            other.acquire(timeout=0.05)
    finally:
        finish.set()
        thread.join()
    with InterprocessLock(path):
        pass


def test_release_without_acquire_is_an_error(tmp_path: Path) -> None:
    lock = InterprocessLock(tmp_path / "x.lock")
    with pytest.raises(RuntimeError, match="unheld"):
        lock.release()
    with lock:
        pass
    with pytest.raises(RuntimeError):
        lock.release()


def test_lock_can_be_reacquired_sequentially(tmp_path: Path) -> None:
    lock = InterprocessLock(tmp_path / "again.lock")
    for _ in range(3):
        lock.acquire(timeout=1)
        lock.release()


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_lock_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "private.lock"
    with InterprocessLock(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.exists(), "lock files are never deleted (deleting them races)"


def test_repr_names_path_and_state(tmp_path: Path) -> None:
    lock = InterprocessLock(tmp_path / "r.lock")
    assert "r.lock" in repr(lock)
    assert "free" in repr(lock)
    with lock:
        assert "held" in repr(lock)


# --- bounded waits and untrusted lock files (B3) --------------------------------------------


@pytest.mark.timeout(60)
def test_a_lock_held_elsewhere_gives_a_clear_error_instead_of_blocking_forever(tmp_path: Path) -> None:
    lock_path = tmp_path / "locks" / "held.lock"
    holder = _spawn(HOLDER_CHILD, str(lock_path))
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StorageError) as caught, InterprocessLock(lock_path, timeout=0.2):
            pytest.fail("the lock was taken while another process held it")
        assert isinstance(caught.value, TimeoutError)
        message = str(caught.value)
        assert str(lock_path) in message
        assert "another" in message
        assert "\n" not in message
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdin.close()
        holder.stdout.close()


def test_the_default_wait_is_bounded(tmp_path: Path) -> None:
    lock = InterprocessLock(tmp_path / "d.lock")
    assert lock.timeout == lock_module.DEFAULT_TIMEOUT
    assert 30 <= lock_module.DEFAULT_TIMEOUT <= 600
    assert InterprocessLock(tmp_path / "e.lock", timeout=None).timeout is None, "waiting forever is opt-in"


@pytest.mark.skipif(os.name == "nt", reason="POSIX file types and owners")
@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["fifo", "symlink", "another user", "group-writable"])
def test_an_untrusted_lock_file_is_refused(tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "locks"
    directory.mkdir(mode=0o700)
    path = directory / "x.lock"
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "symlink":
        (tmp_path / "elsewhere").write_text("")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
        if kind == "another user":
            os.chown(path, 54321, 54321)  # tests run as root
        else:
            path.chmod(0o620)
    lock = InterprocessLock(path, timeout=1)
    with pytest.raises(StorageError) as caught:
        lock.acquire()
    assert str(path) in str(caught.value)
    assert "delete" in str(caught.value)
    # Nothing stays held in this process: the same path works once the file is replaced.
    path.unlink()
    with InterprocessLock(path, timeout=1):
        pass


@pytest.mark.skipif(os.name == "nt", reason="POSIX owners")
def test_a_lock_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "locks"
    directory.mkdir(mode=0o700)
    os.chown(directory, 54321, 54321)
    with pytest.raises(ConfigurationError, match="another user"):
        InterprocessLock(directory / "x.lock", timeout=1).acquire()
