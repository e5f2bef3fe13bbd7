"""Tests for the token stores (oauth_login._stores)."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import chainer, fail, null
from keyrings.alt.file import PlaintextKeyring

from oauth_login import _keyring_backend, _stores
from oauth_login._errors import ConfigurationError, StorageError
from oauth_login._interprocess_lock import InterprocessLock
from oauth_login._stores import (
    KEYRING_MAX_ENTRY_CHARS,
    WINDOWS_KEYRING_MAX_ENTRY_CHARS,
    FileStore,
    KeyringStore,
    MemoryStore,
    TokenStore,
    TokenStoreWarning,
    keyring_is_usable,
    safe_key,
    select_store,
)

SECRET = "SECRET-refresh-token-value"
ENTRY: dict[str, Any] = {
    "access_token": "SECRET-access",
    "refresh_token": SECRET,
    "expires_at": 1_900_000_000,
    "scopes": ["openid", "api"],
}

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("OAUTH_LOGIN_STATE_DIR", str(state))
    monkeypatch.delenv("OAUTH_LOGIN_STORAGE", raising=False)
    return state


@pytest.fixture
def use_keyring() -> Iterator[Any]:
    """Install a keyring backend for one test and put the previous one back afterwards."""
    previous = keyring.get_keyring()

    def install(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def plaintext_keyring(tmp_path: Path, use_keyring: Any) -> PlaintextKeyring:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    use_keyring(backend)
    return backend


class DictKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps passwords in a dict: a stand-in for a system keyring.

    ``failures`` maps an operation (``get``, ``set``, ``delete``) to the exception it raises, and
    ``blocked`` makes every call wait for an event, like an unlock dialog nobody answers.
    """

    priority = 0.1  # type: ignore[assignment]  # below keyrings.alt: never chosen by keyring itself

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.failures: dict[str, BaseException] = {}
        self.blocked: threading.Event | None = None
        self.calls: list[str] = []

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        if self.blocked is not None:
            self.blocked.wait(60)
        failure = self.failures.get(operation)
        if failure is not None:
            raise failure

    def get_password(self, service: str, username: str) -> str | None:
        self._enter("get")
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._enter("set")
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._enter("delete")
        if self.values.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such password")


@pytest.fixture
def system_keyring(use_keyring: Any) -> Iterator[DictKeyring]:
    backend = DictKeyring()
    use_keyring(backend)
    yield backend
    if backend.blocked is not None:
        backend.blocked.set()  # let calls left waiting in daemon threads finish


class PromptDismissedException(Exception):
    """Like secretstorage's: the Secret Service's unlock or create prompt was dismissed."""


def locked_error() -> keyring.errors.KeyringLocked:
    return keyring.errors.KeyringLocked("Failed to unlock the collection!")


def no_collection_error() -> keyring.errors.InitError:
    # What keyring's SecretService backend raises on a headless box with no login collection.
    try:
        try:
            raise PromptDismissedException("Prompt dismissed.")
        except PromptDismissedException as cause:
            raise keyring.errors.InitError("Failed to create the collection: Prompt dismissed..") from cause
    except keyring.errors.InitError as error:
        return error


# --- key sanitising -------------------------------------------------------------------------


def test_safe_key_keeps_simple_keys() -> None:
    assert safe_key("default") == "default"
    assert safe_key("work-2.prod_eu") == "work-2.prod_eu"


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b", "a\\b", "..", ".", ".hidden", "x\x00y", "é"])
def test_safe_key_never_has_separators_or_dot_names(key: str) -> None:
    safe = safe_key(key)
    assert "/" not in safe
    assert "\\" not in safe
    assert "\x00" not in safe
    assert not safe.startswith(".")
    assert safe not in (".", "..")


def test_safe_key_distinct_keys_stay_distinct() -> None:
    keys = ["a/b", "a_b", "a:b", "Work", "work", "con", "CON", "x" * 200, "x" * 201]
    assert len({safe_key(key) for key in keys}) == len(keys)


def test_safe_key_hashes_windows_device_names_and_long_keys() -> None:
    assert safe_key("con") != "con"
    assert safe_key("nul.txt").split(".", 1)[0] != "nul"
    assert len(safe_key("x" * 500)) < 100


def test_safe_key_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        safe_key("")


def test_traversal_key_cannot_escape_the_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens")
    store.save("../etc/passwd", ENTRY)
    path = store.path_for("../etc/passwd")
    assert path.parent == tmp_path / "tokens"
    assert path.exists()
    assert store.load("../etc/passwd") == ENTRY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens"]


# --- file store -----------------------------------------------------------------------------


def test_file_store_round_trip(state: Path) -> None:
    store = FileStore()
    assert store.directory == state / "tokens"
    assert store.load("default") is None
    store.save("default", ENTRY)
    assert store.load("default") == ENTRY
    replacement = {**ENTRY, "access_token": "SECRET-access-2"}
    store.save("default", replacement)
    assert store.load("default") == replacement
    assert store.load("work") is None


def test_file_store_wraps_entries_with_a_version(state: Path) -> None:
    store = FileStore()
    store.save("default", ENTRY)
    assert json.loads(store.path_for("default").read_text()) == {"v": 1, "entry": ENTRY}


@posix_only
def test_file_store_files_0600_directory_0700(state: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        store = FileStore()
        store.save("default", ENTRY)
    finally:
        os.umask(old_umask)
    assert _mode(store.path_for("default")) == 0o600
    assert _mode(store.directory) == 0o700
    assert _mode(state) == 0o700


@posix_only
def test_file_store_tightens_an_open_directory(tmp_path: Path) -> None:
    directory = tmp_path / "tokens"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    FileStore(directory).save("default", ENTRY)
    assert _mode(directory) == 0o700


def test_file_store_delete(state: Path) -> None:
    store = FileStore()
    store.delete("never-saved")
    store.save("default", ENTRY)
    store.delete("default")
    assert store.load("default") is None
    assert not store.path_for("default").exists()
    store.delete("default")


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_save_keeps_previous_entry_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = FileStore(tmp_path / "tokens")
    store.save("default", ENTRY)

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="disk full"):
        store.save("default", {**ENTRY, "access_token": "SECRET-new"})
    monkeypatch.undo()
    assert store.load("default") == ENTRY
    assert [p.name for p in store.directory.iterdir()] == [store.path_for("default").name]


def test_unserialisable_entry_is_rejected_without_its_content(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens")
    with pytest.raises(TypeError) as caught:
        store.save("default", {"refresh_token": SECRET, "bad": object()})
    assert SECRET not in str(caught.value)
    assert store.load("default") is None


@pytest.mark.parametrize(
    "content",
    [
        b'{"v": 1, "entry": {"refresh_token": "SECRET-refresh-token-value"',  # truncated JSON
        b'["SECRET-refresh-token-value"]',  # not an object
        b'{"v": 2, "entry": {"refresh_token": "SECRET-refresh-token-value"}}',  # future version
        b'{"refresh_token": "SECRET-refresh-token-value"}',  # no version
        b'{"v": 1, "entry": "SECRET-refresh-token-value"}',  # entry not an object
        b"\xff\xfeSECRET-refresh-token-value\xff",  # not UTF-8
        b"",
    ],
)
def test_corrupt_file_is_ignored_with_a_warning_that_hides_the_content(
    state: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileStore()
    store.save("work", ENTRY)
    store.path_for("work").write_bytes(content)
    caplog.set_level(logging.DEBUG)
    with pytest.warns(TokenStoreWarning) as record:
        assert store.load("work") is None
    assert len(record) == 1
    message = str(record[0].message)
    assert "'work'" in message
    assert "file store" in message
    assert "\n" not in message
    assert SECRET not in message
    assert SECRET not in caplog.text
    # Left in place; the next save replaces it.
    assert store.path_for("work").read_bytes() == content
    store.save("work", ENTRY)
    assert store.load("work") == ENTRY


def test_file_store_lock_is_per_key_and_exclusive(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens")
    lock = store.lock("default")
    assert isinstance(lock, InterprocessLock)
    with lock, store.lock("work"), pytest.raises(TimeoutError):
        store.lock("default").acquire(timeout=0)
    with store.lock("default"):
        pass


def test_file_store_describe_and_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = FileStore(tmp_path / "state" / "tokens")
    store.save("default", ENTRY)
    described = store.describe()
    assert described == f"file store at ~{os.sep}state{os.sep}tokens (0600)"
    assert str(tmp_path / "state" / "tokens") in repr(store)
    assert SECRET not in repr(store)


# --- memory store ---------------------------------------------------------------------------


def test_memory_store_round_trip_copies_and_delete(state: Path) -> None:
    store = MemoryStore()
    assert store.load("default") is None
    entry = {"refresh_token": SECRET, "scopes": ["a"]}
    store.save("default", entry)
    entry["scopes"].append("mutated after save")
    loaded = store.load("default")
    assert loaded == {"refresh_token": SECRET, "scopes": ["a"]}
    assert loaded is not None
    loaded["scopes"].append("mutated after load")
    assert store.load("default") == {"refresh_token": SECRET, "scopes": ["a"]}
    store.delete("default")
    store.delete("default")
    assert store.load("default") is None
    assert SECRET not in repr(store)
    assert "memory" in store.describe()


def test_memory_store_rejects_what_other_stores_reject(state: Path) -> None:
    with pytest.raises(TypeError):
        MemoryStore().save("default", {"bad": object()})


def test_memory_store_lock_excludes_threads(state: Path) -> None:
    store = MemoryStore()
    counter = [0]

    def work() -> None:
        for _ in range(50):
            with store.lock("default"):
                value = counter[0]
                time.sleep(0)
                counter[0] = value + 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter[0] == 300
    assert store.lock("default").path.parent == state / "locks"


# --- keyring store --------------------------------------------------------------------------


def test_keyring_store_round_trip(state: Path, plaintext_keyring: PlaintextKeyring) -> None:
    store = KeyringStore()
    assert store.load("default") is None
    store.save("default", ENTRY)
    assert store.load("default") == ENTRY
    raw = keyring.get_password("oauth-login", "default")
    assert raw is not None
    assert " " not in raw, "values are compact JSON"
    assert json.loads(raw) == {"v": 1, "entry": ENTRY}
    store.delete("default")
    assert store.load("default") is None
    store.delete("default")  # missing: no error


def test_keyring_store_keys_and_services_are_separate(
    state: Path, plaintext_keyring: PlaintextKeyring
) -> None:
    KeyringStore().save("default", ENTRY)
    assert KeyringStore().load("work") is None
    assert KeyringStore(service="other").load("default") is None


def test_keyring_store_oversized_entry(state: Path, plaintext_keyring: PlaintextKeyring) -> None:
    store = KeyringStore()
    assert store.max_entry_chars == (
        WINDOWS_KEYRING_MAX_ENTRY_CHARS if sys.platform == "win32" else KEYRING_MAX_ENTRY_CHARS
    )
    with pytest.raises(ValueError, match="OAUTH_LOGIN_STORAGE=file") as caught:
        store.save("default", {"refresh_token": SECRET, "id_token": "SECRET-x" * 400})
    message = str(caught.value)
    assert "SECRET" not in message
    assert "\n" not in message
    assert "'default'" in message
    assert store.load("default") is None


def test_keyring_store_limit_is_lower_on_windows(
    state: Path, plaintext_keyring: PlaintextKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyringStore()
    monkeypatch.setattr(sys, "platform", "win32")
    assert store.max_entry_chars == 1280
    with pytest.raises(ValueError, match="1280"):
        store.save("default", {"refresh_token": "SECRET-x" * 200})  # ~1600 characters


def test_keyring_store_accepts_an_entry_at_the_limit(
    state: Path, plaintext_keyring: PlaintextKeyring
) -> None:
    store = KeyringStore()
    overhead = len(json.dumps({"v": 1, "entry": {"t": ""}}, separators=(",", ":")))
    entry = {"t": "x" * (store.max_entry_chars - overhead)}
    store.save("default", entry)
    assert store.load("default") == entry
    with pytest.raises(ValueError, match="characters"):
        store.save("default", {"t": "x" * (store.max_entry_chars - overhead + 1)})


def test_keyring_store_corrupt_value_is_ignored_with_a_warning(
    state: Path, plaintext_keyring: PlaintextKeyring
) -> None:
    keyring.set_password("oauth-login", "default", f"not json {SECRET}")
    with pytest.warns(TokenStoreWarning, match="keyring store") as record:
        assert KeyringStore().load("default") is None
    assert SECRET not in str(record[0].message)


def test_keyring_store_lock_lives_in_state_dir(state: Path) -> None:
    store = KeyringStore()
    lock = store.lock("default")
    assert lock.path.parent == state / "locks"
    with lock, pytest.raises(TimeoutError):
        KeyringStore().lock("default").acquire(timeout=0)


def test_keyring_store_describe_and_repr(state: Path, plaintext_keyring: PlaintextKeyring) -> None:
    store = KeyringStore()
    assert "oauth-login" in store.describe()
    assert "PlaintextKeyring" in store.describe()
    assert repr(store) == "<KeyringStore service='oauth-login'>"


# --- keyring detection ----------------------------------------------------------------------


def test_a_system_keyring_is_usable(system_keyring: DictKeyring) -> None:
    usable, reason = keyring_is_usable()
    assert usable
    assert "DictKeyring" in reason


def test_keyrings_alt_file_backends_are_not_a_system_keyring(
    state: Path, use_keyring: Any, tmp_path: Path
) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "alt.cfg")
    use_keyring(backend)
    usable, reason = keyring_is_usable()
    assert not usable
    assert "keyrings.alt" in reason and "PlaintextKeyring" in reason
    store = select_store("auto")
    assert isinstance(store, FileStore), "auto must not keep tokens in keyrings.alt's file"
    assert store.notice is not None and "keyrings.alt" in store.notice
    with pytest.raises(ConfigurationError, match=r"keyrings\.alt"):
        select_store("keyring")
    assert not Path(backend.file_path).exists()


def test_a_chainer_of_keyrings_alt_backends_only_is_not_usable(
    use_keyring: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inner = PlaintextKeyring()
    inner.file_path = str(tmp_path / "kr.cfg")
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [inner])
    use_keyring(chainer.ChainerBackend())
    usable, reason = keyring_is_usable()
    assert not usable
    assert "keyrings.alt" in reason


def test_fail_keyring_is_not_usable(use_keyring: Any) -> None:
    use_keyring(fail.Keyring())
    usable, reason = keyring_is_usable()
    assert not usable
    assert reason.startswith("no keyring backend is installed or available")


def test_the_notice_names_why_the_secret_service_is_unusable(
    state: Path, use_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    use_keyring(fail.Keyring())
    usable, reason = keyring_is_usable()
    assert not usable
    assert "Secret Service" in reason
    assert "DBUS_SESSION_BUS_ADDRESS is unset" in reason, "the real reason: no session bus"
    store = select_store("auto")
    assert store.notice is not None and "DBUS_SESSION_BUS_ADDRESS is unset" in store.notice
    assert "\n" not in store.notice


def test_null_keyring_is_not_usable(use_keyring: Any) -> None:
    use_keyring(null.Keyring())
    usable, reason = keyring_is_usable()
    assert not usable
    assert "disabled" in reason


def test_empty_chainer_is_not_usable(use_keyring: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    use_keyring(chainer.ChainerBackend())
    usable, reason = keyring_is_usable()
    assert not usable
    assert "chainer" in reason


def test_chainer_with_backends_is_usable(use_keyring: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = DictKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [inner])
    use_keyring(chainer.ChainerBackend())
    assert keyring_is_usable()[0]


def test_error_resolving_the_backend_is_not_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown\nsecond line")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    usable, reason = keyring_is_usable()
    assert not usable
    assert "RuntimeError" in reason
    assert "DBus" in reason
    assert "\n" not in reason


# --- select_store ---------------------------------------------------------------------------


def test_auto_uses_the_keyring_when_usable(state: Path, system_keyring: DictKeyring) -> None:
    store = select_store("auto")
    assert isinstance(store, KeyringStore)
    assert store.notice is None


def test_auto_without_usable_keyring_falls_back_to_file_with_one_notice(
    state: Path, use_keyring: Any, caplog: pytest.LogCaptureFixture
) -> None:
    use_keyring(fail.Keyring())
    caplog.set_level(logging.INFO, logger="oauth_login")
    store = select_store("auto")
    assert isinstance(store, FileStore)
    assert store.directory == state / "tokens"
    assert store.notice is not None
    assert store.notice.startswith("No usable keyring (no keyring backend is installed or available")
    assert str(state / "tokens") in store.notice
    assert "\n" not in store.notice
    again = select_store()  # default kind is auto
    assert isinstance(again, FileStore)
    assert again.notice == store.notice
    notices = [r for r in caplog.records if r.name == "oauth_login" and "No usable keyring" in r.message]
    assert len(notices) == 1, "the notice is logged once per process"
    assert notices[0].levelno == logging.INFO


def test_forced_keyring_that_is_unusable_is_an_error(state: Path, use_keyring: Any) -> None:
    use_keyring(null.Keyring())
    with pytest.raises(ConfigurationError, match="OAUTH_LOGIN_STORAGE=file") as caught:
        select_store("keyring")
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)


def test_forced_keyring_that_is_usable(state: Path, system_keyring: DictKeyring) -> None:
    assert isinstance(select_store("keyring"), KeyringStore)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("file", FileStore), ("memory", MemoryStore), (" FILE ", FileStore), ("", FileStore)],
)
def test_environment_selects_the_store(
    state: Path, monkeypatch: pytest.MonkeyPatch, use_keyring: Any, value: str, expected: type
) -> None:
    use_keyring(fail.Keyring())  # so that "" (auto) deterministically means the file store
    monkeypatch.setenv("OAUTH_LOGIN_STORAGE", value)
    assert isinstance(select_store(), expected)


def test_explicit_kind_beats_the_environment(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_LOGIN_STORAGE", "keyring")
    assert isinstance(select_store("memory"), MemoryStore)


def test_memory_kind_is_shared_within_the_process(state: Path) -> None:
    first = select_store("memory")
    assert select_store("memory") is first


def test_unknown_kind(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "OAUTH_LOGIN_STORAGE must be one of auto, keyring, file, memory (got 'x')"
    with pytest.raises(ValueError, match=re.escape(expected)) as caught:
        select_store("x")
    assert str(caught.value) == expected
    assert isinstance(caught.value, ConfigurationError)
    monkeypatch.setenv("OAUTH_LOGIN_STORAGE", "vault")
    with pytest.raises(ValueError, match="got 'vault'"):
        select_store()


# --- all stores -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "memory", "keyring"])
def test_every_store_meets_the_protocol_and_never_logs_secrets(
    state: Path, system_keyring: DictKeyring, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    store = select_store(kind)
    assert isinstance(store, TokenStore)
    assert store.name == kind
    store.check_writable("default")
    store.save("default", ENTRY)
    assert store.load("default") == ENTRY
    with store.lock("default"):
        pass
    store.delete("default")
    assert store.load("default") is None
    assert SECRET not in caplog.text
    assert SECRET not in repr(store)
    assert SECRET not in store.describe()


def test_importing_the_stores_does_not_import_keyring() -> None:
    src = Path(_stores.__file__).resolve().parents[1]
    code = (
        "import sys, oauth_login._stores; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keyring', 'keyrings')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(src)},
    )
    assert result.stdout.strip() == "[]"


# --- a keyring that cannot be used at run time (A6) ------------------------------------------


STORE_CALLS = {  # store method -> (the keyring operation it makes, how to call it)
    "load": ("get", lambda store: store.load("default")),
    "save": ("set", lambda store: store.save("default", ENTRY)),
    "delete": ("delete", lambda store: store.delete("default")),
    "check_writable": ("set", lambda store: store.check_writable("default")),
}


@pytest.mark.parametrize("method", list(STORE_CALLS))
@pytest.mark.parametrize(
    ("failure", "cause"),
    [(no_collection_error, "Prompt dismissed"), (locked_error, "Failed to unlock the collection")],
)
def test_keyring_errors_carry_the_real_cause(
    state: Path, system_keyring: DictKeyring, method: str, failure: Any, cause: str
) -> None:
    operation, call = STORE_CALLS[method]
    system_keyring.failures[operation] = failure()
    with pytest.raises(StorageError) as caught:
        call(KeyringStore())
    message = str(caught.value)
    assert cause in message, "the backend's own words, not just the exception's type"
    assert type(system_keyring.failures[operation]).__name__ in message
    assert "OAUTH_LOGIN_STORAGE=file" in message, "the hint says what to do"
    assert "\n" not in message
    assert SECRET not in message


def test_a_backend_error_quoting_the_value_is_not_repeated(state: Path, system_keyring: DictKeyring) -> None:
    raw = json.dumps({"v": 1, "entry": ENTRY}, separators=(",", ":"))
    system_keyring.failures["set"] = keyring.errors.PasswordSetError(f"could not store {raw}")
    with pytest.raises(StorageError) as caught:
        KeyringStore().save("default", ENTRY)
    assert SECRET not in str(caught.value)
    assert "PasswordSetError" in str(caught.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.load("default"),
        lambda store: store.save("default", ENTRY),
        lambda store: store.delete("default"),
        lambda store: store.check_writable("default"),
    ],
    ids=["load", "save", "delete", "check_writable"],
)
def test_a_keyring_call_that_never_returns_is_bounded(
    state: Path, system_keyring: DictKeyring, call: Any
) -> None:
    # An unlock dialog that nobody answers: the backend's call blocks until the test ends.
    system_keyring.blocked = threading.Event()
    with pytest.raises(StorageError) as caught:
        call(KeyringStore(timeout=0.2))
    message = str(caught.value)
    assert "did not answer within 0.2 s" in message
    assert "unlock" in message and "OAUTH_LOGIN_STORAGE=file" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("failure", "cause"), [(no_collection_error, "Prompt dismissed"), (locked_error, "unlock")]
)
def test_auto_falls_back_to_the_file_store_when_the_keyring_cannot_be_read(
    state: Path, system_keyring: DictKeyring, failure: Any, cause: str
) -> None:
    system_keyring.failures["get"] = failure()
    store = select_store("auto")
    assert isinstance(store, FileStore)
    assert store.notice is not None
    assert store.notice.startswith("No usable keyring (")
    assert cause in store.notice
    with pytest.raises(ConfigurationError, match=cause):
        select_store("keyring")


@pytest.mark.timeout(30)
def test_auto_falls_back_when_the_keyring_does_not_answer(
    state: Path, system_keyring: DictKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_keyring_backend, "KEYRING_TIMEOUT", 0.2)
    system_keyring.blocked = threading.Event()
    store = select_store("auto")
    assert isinstance(store, FileStore)
    assert store.notice is not None and "did not answer" in store.notice


def test_check_writable_leaves_nothing_behind(state: Path, system_keyring: DictKeyring) -> None:
    store = KeyringStore()
    store.save("default", ENTRY)
    before = dict(system_keyring.values)
    store.check_writable("default")
    assert system_keyring.calls.count("set") == 2 and "delete" in system_keyring.calls
    assert system_keyring.values == before, "the probe is removed and the real entry untouched"
    assert store.load("default") == ENTRY


def test_check_writable_of_the_file_and_memory_stores(state: Path) -> None:
    store = FileStore()
    store.check_writable("default")
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert list(store.directory.iterdir()) == [], "the probe file is removed"
    MemoryStore().check_writable("default")


def test_a_sign_in_is_refused_before_anything_opens_when_the_store_cannot_be_written(
    state: Path, system_keyring: DictKeyring
) -> None:
    from oauth_login._client import OAuthClient
    from oauth_login._profiles import Profile

    system_keyring.failures["set"] = locked_error()
    requests: list[str] = []
    opened: list[str] = []

    def request(method: str, url: str, **kwargs: Any) -> Any:
        requests.append(url)
        raise AssertionError("no request may be sent before the store is known to work")

    client = OAuthClient(
        Profile(issuer="https://idp.invalid", client_id="notebook"), store=KeyringStore(), request=request
    )
    with pytest.raises(StorageError, match="Failed to unlock the collection"):
        client.start_login(open_browser=opened.append, show_link=lambda link, code: opened.append(link))
    assert requests == [] and opened == []
    assert client.attempt is None


# --- untrusted state directories and token files (B3) ----------------------------------------

ANOTHER_UID = 54321  # tests run as root, so os.chown can give a path to this unused uid


def _planted_entry(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "default.json"
    path.write_text(json.dumps({"v": 1, "entry": ENTRY}))
    path.chmod(0o600)
    return path


@posix_only
@pytest.mark.parametrize("which", ["state", "tokens"])
def test_a_state_or_tokens_directory_of_another_user_is_refused(state: Path, which: str) -> None:
    _planted_entry(state / "tokens")
    untrusted = state if which == "state" else state / "tokens"
    os.chown(untrusted, ANOTHER_UID, ANOTHER_UID)
    store = FileStore()
    calls = [
        lambda: store.load("default"),
        lambda: store.save("default", ENTRY),
        lambda: store.check_writable("default"),
        lambda: store.lock("default").acquire(),
    ]
    for call in calls:
        with pytest.raises(ConfigurationError) as caught:
            call()
        assert str(untrusted) in str(caught.value)
        assert "OAUTH_LOGIN_STATE_DIR" in str(caught.value)


@posix_only
def test_a_tokens_directory_others_can_write_is_refused(state: Path) -> None:
    _planted_entry(state / "tokens")
    (state / "tokens").chmod(0o777)
    with pytest.raises(ConfigurationError, match="chmod 700"):
        FileStore().load("default")


@posix_only
@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["another user", "group-readable", "symlink", "fifo"])
def test_an_untrusted_token_file_is_refused(state: Path, tmp_path: Path, kind: str) -> None:
    store = FileStore()
    path = store.path_for("default")
    if kind in ("another user", "group-readable"):
        _planted_entry(store.directory)
        if kind == "another user":
            os.chown(path, ANOTHER_UID, ANOTHER_UID)
        else:
            path.chmod(0o640)
    else:
        store.directory.mkdir(parents=True, mode=0o700)
        target = tmp_path / "elsewhere"
        if kind == "fifo":
            os.mkfifo(target, 0o600)  # opening it for reading would hang without O_NONBLOCK
        else:
            _planted_entry(tmp_path / "elsewhere-dir")
            target = tmp_path / "elsewhere-dir" / "default.json"
        path.symlink_to(target) if kind == "symlink" else os.mkfifo(path, 0o600)
    with pytest.raises(StorageError) as caught:
        store.load("default")
    message = str(caught.value)
    assert str(path) in message
    assert "delete" in message
    assert SECRET not in message
    # Signing in again replaces it with a private regular file.
    store.save("default", ENTRY)
    assert stat.S_ISREG(path.lstat().st_mode)
    assert store.load("default") == ENTRY


@posix_only
def test_the_store_locks_are_bounded(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holding, finish = threading.Event(), threading.Event()
    store = FileStore()

    def hold() -> None:
        with store.lock("default"):
            holding.set()
            finish.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        for candidate in (store, KeyringStore(), MemoryStore()):
            assert candidate.lock("default").timeout is not None
        monkeypatch.setattr(_stores, "LOCK_TIMEOUT", 0.1)
        with pytest.raises(StorageError, match="another thread or process"), store.lock("default"):
            pytest.fail("taken while held")
    finally:
        finish.set()
        thread.join()
