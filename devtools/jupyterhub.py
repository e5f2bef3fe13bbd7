"""A real JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from npm),
and Playwright helpers (sync API) that log users in and open their notebooks.

Hub::

    with JupyterHub(users=["alice", "bob"], env={"OAUTH_LOGIN_ISSUER": idp.issuer}) as hub:
        hub.url                                    # http://127.0.0.1:PORT/  (public: through the proxy)
        hub.user_dir("alice")                      # alice's home = her server's root dir
        hub.write_notebook("alice", "probe.ipynb", nb)
        hub.start_server("alice"); hub.stop_server("alice")      # REST API, bounded polls
        hub.api("users/alice"), hub.api_token, hub.log()
    hub.leftovers                                  # processes that outlived stop() (killed); [] when clean

Pages (each user in their own browser context, so both are logged in at once)::

    with browser.session() as alice, browser.session() as bob:     # BrowserThread.session()
        alice.submit(hub_login, hub, "alice").result()
        bob.submit(hub_login, hub, "bob").result()
        def probe(page):
            open_user_notebook(page, hub, "alice", "probe.ipynb")   # then devtools.jupyter helpers
            run_all(page); return wait_for_output(page, 0, "marker").inner_text()
        alice.submit(probe).result()
        alice.submit(visit, hub.url + "hub/user-redirect/x?y=1").result()   # Visit(url, status, hops)

(``browser.submit(job)`` gets a fresh, logged-out context per job; inside one job a second context is
``page.context.browser.new_context()``.)

Every user's server runs as the current OS user (SimpleLocalProcessSpawner: no isolation, tests
only) with ``HOME`` = ``user_dir(user)``, so its config dir is ``<home>/.jupyter`` and its runtime
dir ``<home>/.local/share/jupyter/runtime``, as on a real hub. A ``pre_spawn_hook`` writes the user
settings of devtools.jupyter there (no news toast, no update check, no build check). The servers
run this venv's Python (``python -m jupyterhub.singleuser``): they find its labextensions, kernel
spec and server extensions in ``sys.prefix``. The hub, the proxy and every single-user server (and
their kernels) write to one log file: ``log()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from playwright.sync_api import Page, Response

from devtools.jupyter import DEFAULT_SETTINGS, PAGE_CONFIG, App, open_notebook

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock; run one test session at a time there
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CHP_DIR",
    "JupyterHub",
    "JupyterHubError",
    "Visit",
    "ensure_chp",
    "hub_login",
    "open_user_notebook",
    "submit_login_form",
    "visit",
]

CHP_DIR = Path(__file__).resolve().parent / "chp"
SERVICE_NAME = "oauth-login-tests"
DEFAULT_TIMEOUT_MS = 60_000


class JupyterHubError(RuntimeError):
    """The hub could not be installed, started, asked something, or a server did not start/stop."""


# -- configurable-http-proxy (npm) -----------------------------------------------------------------
def _pinned_chp() -> str:
    return str(json.loads((CHP_DIR / "package.json").read_text())["dependencies"]["configurable-http-proxy"])


def _installed_chp() -> str | None:
    manifest = CHP_DIR / "node_modules" / "configurable-http-proxy" / "package.json"
    # npm writes its hidden lockfile last: without it, an install was interrupted.
    if not (manifest.exists() and (CHP_DIR / "node_modules" / ".package-lock.json").exists()):
        return None
    return str(json.loads(manifest.read_text())["version"])


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """Serialize `npm ci` across processes (two pytest runs in one tree), as devtools/idp_process.py."""
    name = hashlib.sha256(str(CHP_DIR).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"oauth-login-chp-{name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_chp() -> Path:
    """Install the pinned configurable-http-proxy (``npm ci`` in devtools/chp) unless it is there;
    return the path of its executable."""
    with _install_lock():
        if _installed_chp() != _pinned_chp():
            npm = shutil.which("npm")
            if npm is None:
                raise JupyterHubError("npm not found on PATH: install Node.js 20+ to run JupyterHub's proxy")
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=CHP_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise JupyterHubError(f"npm ci failed in {CHP_DIR}:\n{done.stdout}\n{done.stderr}")
    if shutil.which("node") is None:
        raise JupyterHubError("node not found on PATH: install Node.js 20+ to run JupyterHub's proxy")
    return CHP_DIR / "node_modules" / ".bin" / "configurable-http-proxy"


# -- processes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Proc:
    pid: int
    start: str  # /proc start time: tells a pid apart from a later process that reuses it
    cmd: str


def _proc_stat(pid: int) -> tuple[str, int, str] | None:
    """(state, ppid, start time) from /proc/<pid>/stat, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), fields[19]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _descendants(root: int) -> list[_Proc]:
    """Every process below ``root`` (Linux /proc; [] elsewhere): the proxy, the single-user servers
    and their kernels (both run in sessions of their own, so process groups would miss them)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _proc_stat(int(entry.name))
        if stat is not None:
            children.setdefault(stat[1], []).append((int(entry.name), stat[2]))
    found: list[_Proc] = []
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found.append(_Proc(pid, start, _cmdline(pid)))
            todo.append(pid)
    return found


def _alive(proc: _Proc) -> bool:
    stat = _proc_stat(proc.pid)
    return stat is not None and stat[2] == proc.start and stat[0] not in ("Z", "X")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the hub ---------------------------------------------------------------------------------------
_CONFIG = """\
# Generated by devtools/jupyterhub.py
import json, os
from pathlib import Path

c = get_config()  # noqa: F821

c.JupyterHub.bind_url = {bind_url!r}
c.JupyterHub.hub_bind_url = {hub_bind_url!r}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret_file!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.public_url = {public_url!r}

c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.api_url = {proxy_api_url!r}
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.ConfigurableHTTPProxy.pid_file = {proxy_pid_file!r}

c.JupyterHub.authenticator_class = {authenticator!r}
{auth_lines}
c.JupyterHub.services = [{{"name": {service!r}, "api_token": {api_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": [{service!r}]}}]

c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = {home_template!r}
c.Spawner.cmd = [{python!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = {default_url!r}
c.Spawner.args = {args!r}
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = {spawn_timeout!r}
c.Spawner.http_timeout = {spawn_timeout!r}
c.LocalProcessSpawner.interrupt_timeout = 10
c.LocalProcessSpawner.term_timeout = 5
c.LocalProcessSpawner.kill_timeout = 5

_HOME_FILES = json.loads({home_files!r})


def _pre_spawn_hook(spawner):
    # User settings into the user's JUPYTER_CONFIG_DIR (~/.jupyter): no news toast, no update or build check.
    home = Path(spawner.home_dir)
    for relative, text in _HOME_FILES.items():
        target = home / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.write_text(text)


c.Spawner.pre_spawn_hook = _pre_spawn_hook

{extra_config}
"""


class JupyterHub:
    """``python -m jupyterhub`` from this venv on 127.0.0.1:<free port>; a context manager.

    - ``app``: ``"lab"`` (``c.Spawner.default_url = "/lab"``) or ``"notebook"`` (``"/tree"``,
      Notebook 7); ``notebook_url()`` follows it.
    - ``users``: the allowed users, created at start-up (so ``start_server`` works before any
      login); empty: anybody may log in (``allow_all``).
    - ``password``: None: DummyAuthenticator, any password. Otherwise the one password everybody
      must use (8+ characters), with ``SharedPasswordAuthenticator``: ``DummyAuthenticator.password``
      is deprecated since JupyterHub 5.3.
    - ``env``: extra environment for every single-user server and so their kernels
      (``c.Spawner.environment``), e.g. ``OAUTH_LOGIN_ISSUER``.
    - ``public_url``: True sets ``c.JupyterHub.public_url`` to ``url`` (then the servers see
      ``JUPYTERHUB_PUBLIC_URL``; unset, it is empty, as on most hubs).
    - ``base_url``: the hub's prefix, ``/`` or e.g. ``/prefix/``.
    - ``extra_args`` for the single-user servers; ``extra_config``: Python lines appended to the
      generated ``jupyterhub_config.py`` (``c`` is the config).
    """

    def __init__(
        self,
        app: App = "lab",
        *,
        users: Sequence[str] = (),
        password: str | None = None,
        env: Mapping[str, str] | None = None,
        public_url: bool = False,
        base_url: str = "/",
        extra_args: Sequence[str] = (),
        extra_config: str = "",
        startup_timeout: float = 60.0,
        spawn_timeout: float = 60.0,
    ):
        if app not in ("lab", "notebook"):
            raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
        if not (base_url.startswith("/") and base_url.endswith("/")):
            raise ValueError(f"base_url must start and end with '/', not {base_url!r}")
        if password is not None and len(password) < 8:
            raise ValueError("SharedPasswordAuthenticator needs a password of 8 characters or more")
        self.app: App = app
        self.users = list(users)
        self.password = password
        self.env = dict(env or {})
        self.public_url = public_url
        self.base_url = base_url
        self.extra_args = list(extra_args)
        self.extra_config = extra_config
        self.startup_timeout = startup_timeout
        self.spawn_timeout = spawn_timeout
        self.api_token = secrets.token_hex(24)  # the service oauth-login-tests, role admin
        self.url = ""  # http://127.0.0.1:PORT<base_url>  (public: the proxy)
        self.pid: int | None = None
        self.leftovers: list[str] = []  # processes that survived stop() and had to be killed
        self.root = Path()
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._log_text = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> JupyterHub:
        chp = ensure_chp()
        for attempt in range(3):  # a free port picked here may be taken before the hub binds it
            try:
                self._start_once(chp)
                return self
            except JupyterHubError as exc:
                if attempt == 2 or not re.search(r"EADDRINUSE|[Aa]ddress already in use", str(exc)):
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, chp: Path) -> None:
        tmp = self._tmp = Path(tempfile.mkdtemp(prefix="oauth-login-jupyterhub-"))
        self.root = tmp
        try:
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}{self.base_url}"
            config = tmp / "jupyterhub_config.py"
            config.write_text(self._config(chp, port))
            self._spawn(tmp, config)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _config(self, chp: Path, port: int) -> str:
        tmp = self.root
        args = ["--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--ServerApp.allow_root=True")
        args += self.extra_args
        if self.password is None:
            authenticator = "jupyterhub.auth.DummyAuthenticator"
            auth_lines = ""
        else:
            authenticator = "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
            auth_lines = f"c.SharedPasswordAuthenticator.user_password = {self.password!r}\n"
        if self.users:
            auth_lines += f"c.Authenticator.allowed_users = {set(self.users)!r}\n"
        else:
            auth_lines += "c.Authenticator.allow_all = True\n"
        home_files = {
            f".jupyter/lab/user-settings/{plugin.rpartition(':')[0]}/"
            f"{plugin.rpartition(':')[2]}.jupyterlab-settings": json.dumps(values)
            for plugin, values in DEFAULT_SETTINGS.items()
        }
        home_files[".jupyter/labconfig/page_config.json"] = json.dumps(PAGE_CONFIG)
        return _CONFIG.format(
            bind_url=self.url,
            hub_bind_url=f"http://127.0.0.1:{_free_port()}",
            db_url=f"sqlite:///{tmp / 'jupyterhub.sqlite'}",
            cookie_secret_file=str(tmp / "jupyterhub_cookie_secret"),
            pid_file=str(tmp / "jupyterhub.pid"),
            public_url=self.url if self.public_url else "",
            chp=str(chp),
            proxy_api_url=f"http://127.0.0.1:{_free_port()}",
            proxy_token=secrets.token_hex(24),
            proxy_pid_file=str(tmp / "jupyterhub-proxy.pid"),
            authenticator=authenticator,
            auth_lines=auth_lines,
            service=SERVICE_NAME,
            api_token=self.api_token,
            home_template=str(tmp / "home" / "{username}"),
            python=sys.executable,
            default_url="/lab" if self.app == "lab" else "/tree",
            args=args,
            environment=self.env,
            spawn_timeout=int(self.spawn_timeout),
            home_files=json.dumps(home_files),
            extra_config=self.extra_config,
        )

    def _spawn(self, tmp: Path, config: Path) -> None:
        # The hub passes only Spawner.env_keep (PATH, LANG, VIRTUAL_ENV, ...) to the servers; its own
        # environment still must not carry the caller's JUPYTERHUB_* (a test run inside a hub) nor
        # PYTEST_CURRENT_TEST.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTERHUB_", "CONFIGPROXY_")) and k != "PYTEST_CURRENT_TEST"
        }
        # This venv first: the servers' PATH is the hub's (env_keep).
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
        self._log_file = open(tmp / "jupyterhub.log", "wb")  # noqa: SIM115 (closed in stop())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            env=env,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops us cleanly
        )
        self.pid = self._proc.pid

    def _wait_ready(self) -> None:
        """Wait for the hub's "JupyterHub is now running" (proxy started, routes added), then ask the
        public ``hub/api/user`` with the service token (through the proxy)."""
        self._poll(self._ready_check, self.startup_timeout, "hub not ready")

    def _ready_check(self) -> bool:
        if "JupyterHub is now running at" not in self.log():
            return False
        try:
            return bool(self.api("user", timeout=2).get("kind") == "service")
        except (OSError, JupyterHubError):
            return False

    def _poll(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """Call ``check`` every 0.1 s until it returns something truthy; raise with the log tail at the
        deadline or when the hub exits."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise JupyterHubError(f"{what}: the hub exited ({code}):\n{self.log()[-6000:]}")
            if time.monotonic() > deadline:
                raise JupyterHubError(f"{what} after {timeout:g}s:\n{self.log()[-6000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the hub: it stops every single-user server (cleanup_servers; they shut their
        kernels down) and the proxy, then exits. SIGKILL after ``timeout``. Then every process that
        was below the hub must be gone within 10 s; survivors are killed and listed in ``leftovers``."""
        proc, self._proc = self._proc, None
        family: list[_Proc] = []
        if proc is not None:
            if proc.poll() is None:
                family = _descendants(proc.pid) if Path("/proc").is_dir() else []
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            deadline = time.monotonic() + 10
            while (alive := [p for p in family if _alive(p)]) and time.monotonic() < deadline:
                time.sleep(0.1)
            for p in alive:
                with contextlib.suppress(OSError):
                    os.kill(p.pid, signal.SIGKILL)
                self.leftovers.append(f"{p.pid}: {p.cmd}")
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            self._log_text = self.log()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> JupyterHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- REST API --------------------------------------------------------------------------------
    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        auth: bool = True,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        """``path`` relative to ``url`` (through the proxy), with the admin token unless ``auth=False``.
        Returns (status, body); raises JupyterHubError on an HTTP error."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"token {self.api_token}"
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, bytes(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace")[:500]
            raise JupyterHubError(f"{method} /{path} -> {exc.code}: {detail}") from exc

    def api(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 10.0) -> Any:
        """The JSON answer of ``hub/api/<path>`` (None when empty), e.g. ``api("users/alice")``."""
        _, payload = self.request(f"hub/api/{path}", method=method, body=body, timeout=timeout)
        return json.loads(payload) if payload else None

    def _user_model(self, user: str) -> dict[str, Any] | None:
        try:
            return dict(self.api(f"users/{urllib.parse.quote(user)}"))
        except JupyterHubError as exc:
            if "-> 404" in str(exc):
                return None
            raise

    def server(self, user: str) -> dict[str, Any] | None:
        """The user's default server model (``url``, ``ready``, ``pending``, ...) or None (stopped)."""
        model = self._user_model(user)
        return None if model is None else model.get("servers", {}).get("")

    def start_server(self, user: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Create the user if needed, start their server (no-op when running) and wait until it is
        ready (bounded). Returns the server model."""
        name = urllib.parse.quote(user)
        if self._user_model(user) is None:
            self.api(f"users/{name}", method="POST")
        current = self.server(user)
        if not (current and (current.get("ready") or current.get("pending") == "spawn")):
            if current and current.get("pending") == "stop":
                self._poll(
                    lambda: self.server(user) is None, self.spawn_timeout, f"{user}'s server not stopped"
                )
            self.api(f"users/{name}/server", method="POST", body={})

        def ready() -> dict[str, Any] | None:
            server = self.server(user)
            if server is None:
                raise JupyterHubError(f"{user}'s server failed to start:\n{self.log()[-6000:]}")
            return server if server.get("ready") else None

        return dict(self._poll(ready, timeout or self.spawn_timeout, f"{user}'s server not ready"))

    def stop_server(self, user: str, *, timeout: float | None = None) -> None:
        """Stop the user's server (no-op when stopped) and wait until the hub reports it gone."""
        if self.server(user) is not None:
            self.api(f"users/{urllib.parse.quote(user)}/server", method="DELETE")
        self._poll(
            lambda: self.server(user) is None, timeout or self.spawn_timeout, f"{user}'s server not stopped"
        )

    # -- files and URLs --------------------------------------------------------------------------
    def user_dir(self, user: str) -> Path:
        """The user's home: their server's working and root dir (where notebooks go). Created."""
        if self._tmp is None:
            raise JupyterHubError("the hub is not running")
        path = self.root / "home" / user
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_notebook(self, user: str, path: str, notebook: Any) -> Path:
        """Write an nbformat node (or copy an .ipynb file) to ``user_dir(user)/path``."""
        target = self.user_dir(user) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(notebook, (str, os.PathLike)):
            shutil.copyfile(notebook, target)
        else:
            import nbformat

            nbformat.write(notebook, str(target))
        return target

    def user_url(self, user: str, path: str = "") -> str:
        """``<url>user/<name>/<path>`` (public)."""
        return f"{self.url}user/{urllib.parse.quote(user)}/{path}"

    def notebook_url(self, user: str, path: str) -> str:
        """``/user/<name>/lab/tree/<path>`` or ``/user/<name>/notebooks/<path>`` (follows ``app``)."""
        prefix = "lab/tree" if self.app == "lab" else "notebooks"
        return self.user_url(user, f"{prefix}/{urllib.parse.quote(path)}")

    def user_redirect_url(self, path: str) -> str:
        """``<url>hub/user-redirect/<path>``: sends a logged-in browser to ``/user/<its name>/<path>``."""
        return f"{self.url}hub/user-redirect/{path}"

    def log(self) -> str:
        """Everything the hub, the proxy, the servers and kernels wrote so far (kept after stop())."""
        if self._tmp is None:
            return self._log_text
        try:
            return (self._tmp / "jupyterhub.log").read_text(errors="replace")
        except OSError:
            return ""


# -- page helpers ----------------------------------------------------------------------------------
def submit_login_form(page: Page, user: str, password: str | None = None) -> None:
    """Fill and submit the hub's login form shown in ``page`` (wherever it came from, e.g. a
    redirect to ``/hub/login?next=...``); wait for the navigation that follows."""
    page.fill("#username_input", user)
    page.fill("#password_input", password or "any-password")
    with page.expect_navigation(wait_until="load"):
        page.click("#login_submit")
    if "/hub/login" in urllib.parse.urlsplit(page.url).path and page.locator("#login_submit").count():
        error = " ".join(page.locator(".login_error").all_inner_texts()).strip()
        raise JupyterHubError(f"login as {user!r} failed: {error or page.url}")


def hub_login(
    page: Page, hub: JupyterHub, user: str, password: str | None = None, *, next_path: str = "hub/home"
) -> None:
    """Log ``user`` in at ``/hub/login`` and land on ``next_path`` (default the hub's home page,
    which spawns nothing). The context keeps the hub's cookie: later jobs of the same
    ``BrowserThread.session()`` are logged in."""
    target = hub.url + next_path
    next_arg = urllib.parse.urlsplit(target).path
    page.goto(f"{hub.url}hub/login?next={urllib.parse.quote(next_arg, safe='/')}", wait_until="load")
    submit_login_form(page, user, password if password is not None else hub.password)
    page.wait_for_url(lambda u: u.startswith(target), wait_until="load")


def open_user_notebook(
    page: Page, hub: JupyterHub, user: str, path: str, *, start: bool = True, timeout: float | None = None
) -> list[str]:
    """Open ``/user/<name>/lab/tree/<path>`` (or ``/notebooks/<path>``) in a logged-in page and wait
    until its kernel is connected and idle (devtools.jupyter.open_notebook). ``start``: start the
    server over the API first (a stopped server would answer 424). The first visit goes through the
    hub's OAuth for the single-user server (automatic for one's own server)."""
    if start:
        hub.start_server(user)
    return open_notebook(page, hub.notebook_url(user, path), path, timeout=timeout)


@dataclass
class Visit:
    url: str  # where the page ended
    status: int | None  # HTTP status of the last main-frame document response
    hops: list[tuple[int, str]] = field(default_factory=list)  # every main-frame (status, url), redirects too
    text: str = ""  # inner text of <body>, at most 2000 characters


def visit(
    page: Page,
    url: str,
    *,
    until: Callable[[str], bool] | None = None,
    timeout: float = DEFAULT_TIMEOUT_MS,
) -> Visit:
    """Navigate to ``url`` and record every main-frame response (3xx hops included). With ``until``,
    keep waiting (e.g. through the hub's spawn-pending page, which redirects by script) until the
    page URL satisfies it."""
    hops: list[tuple[int, str]] = []

    def on_response(response: Response) -> None:
        if response.request.is_navigation_request() and response.frame == page.main_frame:
            hops.append((response.status, response.url))

    page.on("response", on_response)
    try:
        page.goto(url, wait_until="load", timeout=timeout)
        if until is not None:
            page.wait_for_url(until, wait_until="load", timeout=timeout)
    finally:
        page.remove_listener("response", on_response)
    final = [status for status, _ in hops if not 300 <= status < 400]
    return Visit(
        url=page.url, status=final[-1] if final else None, hops=hops, text=page.inner_text("body")[:2000]
    )
