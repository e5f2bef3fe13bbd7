"""A private Secret Service: gnome-keyring on a D-Bus session bus of its own, for tests.

    with SecretService(tmp_path) as service:       # a login collection, unlocked
        env = {**os.environ, **service.env}         # DBUS_SESSION_BUS_ADDRESS of the private bus
        service.items("oauth-login")                # what keyring stored there, for assertions
        service.lock()                              # lock it, as a screen lock would
    with SecretService(tmp_path, login_collection=False) as service:
        ...                                         # only D-Bus-activatable, no login collection yet

Nothing here reaches the desktop's own bus or keyring: the bus is new (``dbus-run-session`` with a
configuration of our own), gnome-keyring's HOME and XDG directories are under ``root``, and there
is no DISPLAY, so any prompt (unlock, create a collection) is dismissed at once, as on a headless
server. Needs Debian's ``dbus`` and ``gnome-keyring`` packages (``make test`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["SECRETS_BUS_NAME", "SecretService", "SecretServiceError"]

SECRETS_BUS_NAME = "org.freedesktop.secrets"
_START_TIMEOUT = 30.0

# A session bus like Debian's, minus the desktop's services unless asked: with activation off,
# only the gnome-keyring we start can own the Secret Service name, so nothing races it.
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir={tmpdir}</listen>
  <auth>EXTERNAL</auth>
  {servicedirs}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SecretServiceError(RuntimeError):
    """The private bus or gnome-keyring could not be started."""


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise SecretServiceError(
            f"{program} not found: install Debian's dbus and gnome-keyring packages (make test does)"
        )
    return path


class SecretService:
    """A running private Secret Service; use as a context manager (everything stops on exit).

    ``login_collection=True`` starts ``gnome-keyring-daemon --unlock`` with a password, which
    creates the login collection and unlocks it. ``False`` starts nothing: the bus activates
    gnome-keyring on first use, and it has no collection (the case of a headless box).
    """

    def __init__(self, root: Path, *, login_collection: bool = True, password: str = "test-password") -> None:
        self.root = Path(root)
        self.login_collection = login_collection
        self._password = password
        self.address = ""
        self._bus: subprocess.Popen[str] | None = None
        self._daemon: subprocess.Popen[bytes] | None = None
        self._daemon_log = self.root / "gnome-keyring.log"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to use this Secret Service through Python's keyring."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        }

    def __enter__(self) -> SecretService:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _environment(self) -> dict[str, str]:
        home = self.root / "home"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("XDG_", "DBUS_", "GNOME_KEYRING"))
            and k not in ("DISPLAY", "WAYLAND_DISPLAY")
        }
        env["HOME"] = str(home)
        for name, relative in (
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_CACHE_HOME", ".cache"),
            ("XDG_RUNTIME_DIR", "runtime"),
        ):
            path = home / relative
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            env[name] = str(path)
        return env

    def _start(self) -> None:
        dbus_run_session = _require("dbus-run-session")
        keyring_daemon = _require("gnome-keyring-daemon")
        self.root.mkdir(parents=True, exist_ok=True)
        env = self._environment()
        config = self.root / "session.conf"
        servicedirs = "" if self.login_collection else "<standard_session_servicedirs/>"
        # An abstract socket (Linux): a path under a deep pytest tmp_path can exceed sun_path's 108 bytes.
        config.write_text(_BUS_CONFIG.format(tmpdir="/tmp", servicedirs=servicedirs))
        # The child prints the bus address and then holds the session open until its stdin closes.
        self._bus = subprocess.Popen(
            [
                dbus_run_session,
                f"--config-file={config}",
                "--",
                "sh",
                "-c",
                'printf "%s\\n" "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null',
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._bus.stdout is not None
        self.address = self._bus.stdout.readline().strip()
        if not self.address:
            raise SecretServiceError(f"dbus-run-session did not start (exit status {self._bus.wait(10)})")
        if not self.login_collection:
            return
        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        with open(self._daemon_log, "wb") as log:
            self._daemon = subprocess.Popen(
                [keyring_daemon, "--foreground", "--unlock", "--components=secrets"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        assert self._daemon.stdin is not None
        self._daemon.stdin.write(self._password.encode())  # --unlock reads the password up to EOF
        self._daemon.stdin.close()
        self._wait_for_the_service()

    def _wait_for_the_service(self) -> None:
        """Block until gnome-keyring owns the Secret Service name (a D-Bus signal, not polling)."""
        from jeepney.bus_messages import MatchRule, message_bus
        from jeepney.io.blocking import Proxy, open_dbus_connection

        rule = MatchRule(
            type="signal",
            sender="org.freedesktop.DBus",
            interface="org.freedesktop.DBus",
            member="NameOwnerChanged",
            path="/org/freedesktop/DBus",
        )
        rule.add_arg_condition(0, SECRETS_BUS_NAME)
        with open_dbus_connection(bus=self.address) as connection:
            bus = Proxy(message_bus, connection)
            bus.AddMatch(rule)
            with connection.filter(rule) as queue:
                if bus.NameHasOwner(SECRETS_BUS_NAME)[0]:
                    return
                try:
                    connection.recv_until_filtered(queue, timeout=_START_TIMEOUT)
                except TimeoutError:
                    log = self._daemon_log.read_text(errors="replace").strip()
                    raise SecretServiceError(f"gnome-keyring did not start: {log[-500:]}") from None

    def _collection(self, connection: Any) -> Any:
        import secretstorage

        return secretstorage.get_default_collection(connection)

    def lock(self) -> None:
        """Lock the login collection; unlocking it then needs a prompt, which nobody can answer."""
        from jeepney.io.blocking import open_dbus_connection

        with open_dbus_connection(bus=self.address) as connection:
            collection = self._collection(connection)
            collection.lock()
            if not collection.is_locked():
                raise SecretServiceError("the login collection did not lock")

    def items(self, service: str) -> list[tuple[dict[str, str], str]]:
        """The (attributes, secret) of every item keyring stored for ``service`` (collection unlocked)."""
        from jeepney.io.blocking import open_dbus_connection

        with open_dbus_connection(bus=self.address) as connection:
            found = self._collection(connection).search_items({"service": service})
            return [(item.get_attributes(), item.get_secret().decode()) for item in found]

    def close(self) -> None:
        """Stop gnome-keyring and the bus (an activated gnome-keyring leaves with its bus)."""
        if self._daemon is not None:
            if self._daemon.poll() is None:
                self._daemon.terminate()
                try:
                    self._daemon.wait(10)
                except subprocess.TimeoutExpired:
                    self._daemon.kill()
                    self._daemon.wait()
            self._daemon = None
        if self._bus is not None:
            assert self._bus.stdin is not None
            assert self._bus.stdout is not None
            self._bus.stdin.close()  # ends the held session: dbus-run-session stops its bus
            try:
                self._bus.wait(10)
            except subprocess.TimeoutExpired:
                self._bus.kill()
                self._bus.wait()
            self._bus.stdout.close()
            self._bus = None
