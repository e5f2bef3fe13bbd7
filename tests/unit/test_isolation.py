"""The test run cannot reach the developer's home, keyring or profiles, nor another test's clients.

These pin the fixtures in ``tests/conftest.py``: if one of them is removed, a test run would read
or write the real ``~/.local/state/oauth-login``, ``~/.config/oauth-login/profiles.toml`` or the
real keyring (a Secret Service prompt on a desktop), and tests would depend on their order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

from oauth_login import _api, _paths
from oauth_login._profiles import Profile
from tests.conftest import REAL_HOME, ROOT, TEST_HOME_ENV


def _inside(path: Path, parent: Path) -> bool:
    return path.resolve().is_relative_to(parent.resolve())


def test_home_and_xdg_dirs_are_private_to_the_test_run() -> None:
    home = Path.home()
    assert not _inside(home, REAL_HOME), f"HOME is the developer's real home {REAL_HOME}"
    for name in TEST_HOME_ENV:
        value = Path(os.environ[name])
        assert _inside(value, home), f"{name}={value} is outside the test home {home}"


def test_default_state_and_config_paths_are_under_the_test_home(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the package would use with no OAUTH_LOGIN_* override, as in a subprocess that drops them.
    monkeypatch.delenv("OAUTH_LOGIN_STATE_DIR", raising=False)
    monkeypatch.delenv("OAUTH_LOGIN_CONFIG", raising=False)
    monkeypatch.setattr(_paths, "_system", lambda: "linux")
    for path in (_paths.state_dir(), _paths.config_file()):
        assert _inside(path, Path.home()), path
        assert not _inside(path, REAL_HOME), path


def test_no_oauth_login_setting_leaks_in_from_the_callers_shell(tmp_path: Path) -> None:
    settings = {k: v for k, v in os.environ.items() if k.startswith("OAUTH_LOGIN_")}
    assert settings == {  # only what tests/unit/conftest.py sets, per test
        "OAUTH_LOGIN_STATE_DIR": str(tmp_path / "oauth-login-state"),
        "OAUTH_LOGIN_CONFIG": str(tmp_path / "oauth-login-profiles.toml"),
    }


def test_the_keyring_is_a_private_plaintext_file_under_the_test_home() -> None:
    backend = keyring.get_keyring()
    assert type(backend).__module__ + "." + type(backend).__name__ == os.environ["PYTHON_KEYRING_BACKEND"]
    assert _inside(Path(backend.file_path), Path.home()), backend.file_path
    assert "DBUS_SESSION_BUS_ADDRESS" not in os.environ  # no way to the desktop's Secret Service


# The next two tests run in this order (pytest keeps file order): the first leaves a client
# behind in the module-level API, the second must not see it.


def test_a_test_may_leave_a_client_in_the_module_api() -> None:
    client = _api.client(issuer="https://idp.invalid", client_id="left-behind", storage="memory")
    assert _api._current is client
    _api._notices_shown.add("a notice")
    assert isinstance(client.profile, Profile)


def test_the_next_test_starts_with_an_empty_module_api() -> None:
    assert _api._clients == {}
    assert _api._current is None
    assert _api._notices_shown == set()


# The guard at the end of the run, seen from a small pytest run of its own. Inside it, the "real"
# home is this run's private home, so the probe below never touches the developer's files.

_INNER_CONFTEST = "from tests.conftest import _private_home  # noqa: F401\n"

_INNER_TESTS = """
from pathlib import Path

from oauth_login import _paths
from tests.conftest import REAL_HOME


def test_writes_by_the_default_paths():
    target = _paths.config_file()
    target.parent.mkdir(parents=True)
    target.write_text("[default]\\n")


def test_writes_to_the_real_home_by_an_absolute_path():
    if {write_real!r}:
        target = REAL_HOME / ".local" / "state" / "oauth-login" / "tokens.json"
        target.parent.mkdir(parents=True)
        target.write_text("{{}}")
"""


def _inner_run(tmp_path: Path, *, write_real: bool) -> subprocess.CompletedProcess[str]:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(_INNER_CONFTEST)
    (inner / "test_probe.py").write_text(_INNER_TESTS.format(write_real=write_real))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    for name in TEST_HOME_ENV:
        env.pop(name)  # the inner run's "real" XDG dirs follow its HOME
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(inner)],
        cwd=inner,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_run_that_writes_only_by_default_paths_passes_the_guard(tmp_path: Path) -> None:
    done = _inner_run(tmp_path, write_real=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "home" / ".config" / "oauth-login").exists()


def test_a_run_that_writes_to_the_real_state_dir_fails(tmp_path: Path) -> None:
    done = _inner_run(tmp_path, write_real=True)
    assert done.returncode != 0, done.stdout
    assert "the test run changed the developer's real files" in done.stdout
    assert str(tmp_path / "home" / ".local" / "state" / "oauth-login") in done.stdout
