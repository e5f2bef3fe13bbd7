"""Real JupyterLab 4 / Notebook 7 servers, and Playwright helpers (sync API) that drive both.

Server::

    with JupyterServer("lab", notebooks={"probe.ipynb": nb}, env={"X": "1"}) as server:
        server.url, server.token, server.root_dir, server.notebook_url("probe.ipynb")
        server.read_notebook("probe.ipynb"), server.log()

Page helpers; the same calls work in Lab (``/lab/tree/<path>``) and Notebook 7 (``/notebooks/<path>``)::

    open_notebook(page, server, "probe.ipynb")   # kernel connected and idle, dialogs answered
    run_all(page)                                # fire and forget: returns at once
    wait_for_output(page, 0, "marker")           # text inside cell 0's outputs, never the sources
    panel = widget(page, 1)                      # [data-testid="oauth-login-panel"] in cell 1's outputs
    with page.expect_popup() as info:            # or: with page.context.expect_page() as info:
        panel.get_by_test_id("sign-in").click()  # the click handler calls window.open(...)
    complete_login_in(info.value, expect_url_prefix="http://127.0.0.1:")
    save(page); server.read_notebook("probe.ipynb")
    restart_kernel(page); run_cell(page, 0)

The helpers use ``window.jupyterapp`` (JupyterLab's application object: commands, shell, sessions).
Lab and Notebook 7 only expose it with ``--LabApp.expose_app_in_browser=True`` and
``--JupyterNotebookApp.expose_app_in_browser=True``; JupyterServer passes both (each app ignores
the other's flag). Cells, outputs and widgets are found in the DOM: those classes are the same in
both apps. Every wait is a Playwright wait with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from devtools.browser import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    BrowserResult,
    Consent,
    _drive_provider_pages,
    _PageWatch,
)

__all__ = [
    "CELL",
    "DIALOG",
    "DIALOG_ACCEPT",
    "NOTEBOOK",
    "OUTPUT",
    "PANEL",
    "App",
    "JupyterServer",
    "JupyterServerError",
    "cell",
    "cell_output_text",
    "code_notebook",
    "complete_login_in",
    "execute_command",
    "open_notebook",
    "outputs",
    "restart_kernel",
    "run_all",
    "run_cell",
    "save",
    "screenshot",
    "wait_for_output",
    "wait_idle",
    "wait_kernel_idle",
    "widget",
]

App = Literal["lab", "notebook"]
DEFAULT_TIMEOUT_MS = 60_000

# The notebook that open_notebook() opened carries this attribute (set on its .jp-NotebookPanel),
# so locators never reach into another open document.
_MARK = "data-oauth-login-test"
NOTEBOOK = f".jp-NotebookPanel[{_MARK}] .jp-Notebook"
CELL = ".jp-Cell"
OUTPUT = ".jp-OutputArea-output"
PANEL = '[data-testid="oauth-login-panel"]'
DIALOG = ".jp-Dialog"
DIALOG_ACCEPT = ".jp-Dialog .jp-Dialog-button.jp-mod-accept"

# User settings written into the server's private config dir: no "Would you like to get notified
# about official Jupyter news?" toast (Lab shows it on first start), no update check (no network).
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}

PAGE_CONFIG: dict[str, Any] = {"buildCheck": False, "buildAvailable": False}


class JupyterServerError(RuntimeError):
    """The Jupyter server could not be started or asked something."""


def code_notebook(*sources: str) -> Any:
    """A notebook of code cells with the python3 kernel named (no "Select Kernel" dialog)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return notebook


class JupyterServer:
    """``jupyter lab`` or ``jupyter notebook`` from this venv on 127.0.0.1:<free port>; a context manager.

    - ``notebooks``: ``{relative path: nbformat node | path of an .ipynb to copy}``, written into a
      fresh temporary root dir (the kernels' working directory).
    - ``env``: extra environment for the server and so for its kernels (they inherit it).
      ``JUPYTERHUB_*`` variables of the calling process are dropped unless given here: a test run
      inside a JupyterHub must not make kernels believe they are under the hub. So is
      ``PYTEST_CURRENT_TEST``: under it ipykernel stops forwarding fd 1/2 output to the notebook.
    - ``settings``: JupyterLab user settings ``{plugin id: {key: value}}`` on top of DEFAULT_SETTINGS.
    - Private ``JUPYTER_CONFIG_DIR``/``JUPYTER_DATA_DIR``/``JUPYTER_RUNTIME_DIR`` (user settings,
      workspaces, connection files, ``jpserver-<pid>.json``). The venv's ``share/jupyter`` (kernel
      spec, the ipywidgets/anywidget labextensions) and ``etc/jupyter`` (server extensions) stay
      visible: jupyter_core searches ``sys.prefix`` before the user dirs.
    - Token auth (``--IdentityProvider.token``: ``--ServerApp.token`` is deprecated since
      jupyter_server 2.0 and only logs a warning), XSRF checks on (as in production).
    - The server's and the kernels' stdout/stderr go to one log file: ``log()``. What a kernel writes
      to fd 1/2 (``sys.__stderr__``, C code, subprocesses) lands there *and* (ipykernel's fd
      capture) in the running cell's output; ``print`` / ``sys.stderr`` / ``logging`` in a kernel
      reach only the notebook.
    """

    def __init__(
        self,
        app: App = "lab",
        *,
        notebooks: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        extra_args: list[str] | None = None,
        startup_timeout: float = 60.0,
    ):
        if app not in ("lab", "notebook"):
            raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
        self.app: App = app
        self.notebooks = dict(notebooks or {})
        self.env = dict(env or {})
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.extra_args = list(extra_args or [])
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(24)
        self.url = ""  # http://127.0.0.1:PORT/  (base URL, with the trailing slash)
        self.root_dir = Path()
        self.pid: int | None = None
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._log_text = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> JupyterServer:
        tmp = self._tmp = Path(tempfile.mkdtemp(prefix=f"oauth-login-jupyter-{self.app}-"))
        try:
            self.root_dir = tmp / "root"
            self.root_dir.mkdir()
            for name, notebook in self.notebooks.items():
                self.write_notebook(name, notebook)
            self._write_settings(tmp / "config" / "lab" / "user-settings")
            # No "Build Recommended" check: it spawns node/yarn at page load, and its dialog would
            # be answered "Build" by open_notebook().
            (tmp / "config" / "labconfig").mkdir(parents=True)
            (tmp / "config" / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
            self._spawn(tmp)
            self._wait_ready(tmp)
        except BaseException:
            self.stop()
            raise
        return self

    def write_notebook(self, path: str, notebook: Any) -> Path:
        """Write an nbformat node (or copy an .ipynb file) to ``root_dir/path``."""
        target = self.root_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(notebook, (str, os.PathLike)):
            shutil.copyfile(notebook, target)
        else:
            import nbformat

            nbformat.write(notebook, str(target))
        return target

    def _write_settings(self, settings_dir: Path) -> None:
        for plugin, values in self.settings.items():
            package, _, name = plugin.rpartition(":")
            target = settings_dir / package / f"{name}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))

    def _spawn(self, tmp: Path) -> None:
        # PYTEST_CURRENT_TEST would switch off ipykernel's capture of fd 1/2 (iostream.OutStream):
        # kernels must behave as for a user, forwarding C-level and subprocess output to the cell.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("JUPYTERHUB_") and k != "PYTEST_CURRENT_TEST"
        }
        env.update(
            JUPYTER_CONFIG_DIR=str(tmp / "config"),
            JUPYTER_DATA_DIR=str(tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        )
        env.update(self.env)
        args = [
            sys.executable,
            "-m",
            "jupyterlab" if self.app == "lab" else "notebook",
            "--no-browser",
            "--ip=127.0.0.1",
            "--port=0",  # the server picks a free port and writes it to jpserver-<pid>.json
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--ServerApp.allow_root=True")
        args += self.extra_args
        # A file, not a pipe: nobody reads a pipe while the tests run, and a full pipe blocks the server.
        self._log_file = open(tmp / "server.log", "wb")  # noqa: SIM115 (closed in stop())
        self._proc = subprocess.Popen(
            args,
            env=env,
            cwd=self.root_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.pid = self._proc.pid

    def _wait_ready(self, tmp: Path) -> None:
        """Poll for jpserver-<pid>.json, then GET /api/status with the token, until the deadline."""
        proc = self._proc
        assert proc is not None
        info = tmp / "runtime" / f"jpserver-{proc.pid}.json"
        deadline = time.monotonic() + self.startup_timeout
        problem = "no jpserver-<pid>.json yet"
        while time.monotonic() < deadline:
            try:
                self.url = json.loads(info.read_text())["url"]
                self.api("status")
                return
            except (OSError, ValueError, KeyError, JupyterServerError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            try:
                proc.wait(timeout=0.1)  # the pause between polls, cut short if the server dies
            except subprocess.TimeoutExpired:
                continue
            raise JupyterServerError(
                f"jupyter {self.app} exited with {proc.returncode}:\n{self.log()[-4000:]}"
            )
        raise JupyterServerError(
            f"jupyter {self.app} not ready after {self.startup_timeout:g}s ({problem}):\n{self.log()[-4000:]}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the kernels down over the API, then SIGTERM the server (which also cleans up kernels)
        and wait; SIGKILL after ``timeout``. Kernels run in their own session (jupyter_client's
        ``start_new_session``): a killed server would orphan them, hence the API shutdown first."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._shutdown_kernels()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmp is not None:
            self._log_text = self.log()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _shutdown_kernels(self) -> None:
        if not self.url:
            return
        try:
            for kernel in self.api("kernels"):
                self.api(f"kernels/{kernel['id']}", method="DELETE")
        except (OSError, ValueError, JupyterServerError):
            pass  # the SIGTERM handler shuts the remaining kernels down too

    def __enter__(self) -> JupyterServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- queries ---------------------------------------------------------------------------------
    def request(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 10.0) -> bytes:
        """``path`` (relative to the base URL) with the token in an ``Authorization`` header, which
        exempts the request from the XSRF check. Raises JupyterServerError on an HTTP error."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"token {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace")[:500]
            raise JupyterServerError(f"{method} /{path} -> {exc.code}: {detail}") from exc

    def api(self, path: str, *, method: str = "GET", body: Any = None, timeout: float = 10.0) -> Any:
        """The JSON answer of ``/api/<path>`` (None when empty), e.g. ``api("kernels")``."""
        payload = self.request(f"api/{path}", method=method, body=body, timeout=timeout)
        return json.loads(payload) if payload else None

    def notebook_url(self, path: str) -> str:
        """The page that opens ``path``: ``/lab/tree/<path>`` or ``/notebooks/<path>``, with ``?token=``."""
        prefix = "lab/tree" if self.app == "lab" else "notebooks"
        return f"{self.url}{prefix}/{urllib.parse.quote(path)}?token={self.token}"

    def read_notebook(self, path: str) -> Any:
        """The notebook as saved on disk (an nbformat v4 node)."""
        import nbformat

        return nbformat.read(str(self.root_dir / path), as_version=4)

    def log(self) -> str:
        """Everything the server and its kernels wrote to stdout/stderr so far (kept after stop())."""
        if self._tmp is None:
            return self._log_text
        try:
            return (self._tmp / "server.log").read_text(errors="replace")
        except OSError:
            return ""


# -- page helpers ----------------------------------------------------------------------------------
# JS prelude: the app and the notebook panel that open_notebook() marked (Lab and Notebook 7 alike).
_JS = f"""
const app = window.jupyterapp;
const panelOf = () => {{
  if (!app) throw new Error("window.jupyterapp is undefined: start the server with expose_app_in_browser");
  for (const w of app.shell.widgets("main")) {{
    if (w.node.hasAttribute("{_MARK}") && w.sessionContext) return w;
  }}
  throw new Error("no notebook marked by open_notebook() in this page");
}};
const kernelIdle = (panel) => {{
  const kernel = panel.sessionContext.session?.kernel;
  return !!kernel && kernel.connectionStatus === "connected" && kernel.status === "idle";
}};
"""


def _js(body: str) -> str:
    return f"(arg) => {{ {_JS}\n{body} }}"


def _timeout(timeout: float | None) -> float:
    return DEFAULT_TIMEOUT_MS if timeout is None else timeout


def open_notebook(
    page: Page, server: JupyterServer | str, path: str, *, timeout: float | None = None
) -> list[str]:
    """Open ``path`` (``server`` may also be a ready URL) and wait until its kernel is connected and idle.

    Dialogs shown meanwhile (e.g. "Select Kernel" when the notebook names no kernel) are answered
    with their default button; the news toast is declined. Returns the texts of answered dialogs.
    """
    url = server.notebook_url(path) if isinstance(server, JupyterServer) else server
    page.goto(url, wait_until="domcontentloaded")
    state_js = _js(
        f"""
        if (!app || !app.shell) return false;
        const dialog = document.querySelector("{DIALOG}");
        if (dialog) return "dialog";
        for (const w of app.shell.widgets("main")) {{
          if (w.context?.path === arg && w.sessionContext && w.content) {{
            if (!w.node.hasAttribute("{_MARK}")) {{
              document.querySelectorAll("[{_MARK}]").forEach((n) => n.removeAttribute("{_MARK}"));
              w.node.setAttribute("{_MARK}", "");
            }}
            return w.context.isReady && kernelIdle(w) ? "ready" : false;
          }}
        }}
        return false;
        """
    )
    answered: list[str] = []
    deadline = time.monotonic() + _timeout(timeout) / 1000
    while True:
        remaining = max(1.0, (deadline - time.monotonic()) * 1000)
        try:
            state = page.wait_for_function(state_js, arg=path, timeout=remaining, polling=100).json_value()
        except PlaywrightTimeoutError as exc:
            raise PlaywrightTimeoutError(
                f"{path}: kernel not connected and idle in time ({_kernel_summary(page)})"
            ) from exc
        if state == "ready":
            break
        answered.append(page.locator(DIALOG).first.inner_text())
        page.locator(DIALOG_ACCEPT).first.click()
        page.locator(DIALOG).first.wait_for(state="detached", timeout=remaining)
    news = page.locator(".Toastify__toast", has_text="official Jupyter news")
    if news.count():
        news.get_by_role("button", name="No").click()
    return answered


def _kernel_summary(page: Page) -> str:
    try:
        return str(
            page.evaluate(
                _js(
                    """
                    const w = panelOf(); const k = w.sessionContext.session?.kernel;
                    return `kernel ${k?.name} status=${k?.status} connection=${k?.connectionStatus}`;
                    """
                )
            )
        )
    except Exception as exc:  # noqa: BLE001 (only a diagnostic)
        return f"no kernel info: {str(exc).splitlines()[0]}"


def execute_command(
    page: Page, command: str, args: Mapping[str, Any] | None = None, *, wait: bool = False
) -> Any:
    """``app.commands.execute(command, args)`` after activating the notebook (commands act on the
    current notebook). ``wait=False`` returns at once (notebook:run-* resolve only once the cells
    have finished); ``wait=True`` awaits the command's promise and returns its JSON-able result."""
    return page.evaluate(
        _js(
            """
            const panel = panelOf();
            app.shell.activateById(panel.id);
            const done = app.commands.execute(arg.command, arg.args);
            if (!arg.wait) {
              done.catch((e) => console.error(`command ${arg.command} failed`, e));
              return null;
            }
            return done.then((r) => {
              try { return JSON.parse(JSON.stringify(r ?? null)); } catch { return null; }
            });
            """
        ),
        {"command": command, "args": dict(args or {}), "wait": wait},
    )


def run_all(page: Page) -> None:
    """Run every cell; returns at once (the command's promise resolves only when all cells finished)."""
    execute_command(page, "notebook:run-all-cells")


def run_cell(page: Page, index: int) -> None:
    """Select cell ``index`` and run it (command notebook:run-cell, no advance); returns at once."""
    page.evaluate(
        _js(
            """
            const panel = panelOf();
            app.shell.activateById(panel.id);
            const nb = panel.content;
            if (arg < 0 || arg >= nb.widgets.length) {
              throw new Error(`no cell ${arg}: the notebook has ${nb.widgets.length} cells`);
            }
            nb.activeCellIndex = arg;
            nb.deselectAll();
            app.commands.execute("notebook:run-cell").catch((e) => console.error("run-cell failed", e));
            """
        ),
        index,
    )


def cell(page: Page, index: int) -> Locator:
    """Cell ``index`` (0-based) of the opened notebook."""
    return page.locator(NOTEBOOK).locator(CELL).nth(index)


def outputs(page: Page, index: int) -> Locator:
    """The output elements of cell ``index`` (one per output)."""
    return cell(page, index).locator(OUTPUT)


def cell_output_text(page: Page, index: int) -> str:
    """The visible text of all outputs of cell ``index``, joined by newlines."""
    return "\n".join(outputs(page, index).all_inner_texts())


def wait_for_output(
    page: Page, index: int, text: str | re.Pattern[str], *, timeout: float | None = None
) -> Locator:
    """Wait until an output of cell ``index`` contains ``text`` (substring, or a regex); return it.

    Only that cell's ``.jp-OutputArea-output`` elements are searched, never the page, whose cell
    sources contain the same words. On timeout the error shows what the cell did print.
    """
    match = outputs(page, index).filter(has_text=text).first
    try:
        match.wait_for(state="attached", timeout=_timeout(timeout))
    except PlaywrightTimeoutError as exc:
        raise PlaywrightTimeoutError(
            f"cell {index}: no output containing {text!r}; outputs: {cell_output_text(page, index)!r}; "
            f"{_kernel_summary(page)}"
        ) from exc
    return match


def widget(page: Page, index: int) -> Locator:
    """The login panel (``[data-testid="oauth-login-panel"]``) in cell ``index``'s outputs."""
    return outputs(page, index).locator(PANEL)


def wait_kernel_idle(page: Page, *, timeout: float | None = None) -> None:
    """Wait until the notebook's kernel is connected and idle *now* (it may not have started the
    work you just asked for: after run_all/run_cell, wait for an output or use wait_idle)."""
    page.wait_for_function(_js("return kernelIdle(panelOf());"), timeout=_timeout(timeout), polling=100)


def wait_idle(page: Page, *, timeout: float | None = None) -> None:
    """Wait until no cell is queued or running (prompt not ``[*]``) and the kernel is idle."""
    page.wait_for_function(
        _js(
            """
            const panel = panelOf();
            const busy = panel.content.widgets.some(
              (c) => c.model.type === "code" && c.model.executionState === "running"
            );
            return !busy && kernelIdle(panel);
            """
        ),
        timeout=_timeout(timeout),
        polling=100,
    )


def save(page: Page, *, timeout: float | None = None) -> None:
    """Save the notebook (command docmanager:save) and wait until the server has stored it: the
    contents model's ``last_modified`` changed and the document is no longer dirty."""
    before = page.evaluate(_js("return panelOf().context.contentsModel?.last_modified ?? null;"))
    execute_command(page, "docmanager:save")
    try:
        page.wait_for_function(
            _js(
                f"""
                if (document.querySelector("{DIALOG}")) return "dialog";
                const ctx = panelOf().context;
                return ctx.contentsModel?.last_modified !== arg && !ctx.model.dirty;
                """
            ),
            arg=before,
            timeout=_timeout(timeout),
            polling=100,
        )
    except PlaywrightTimeoutError as exc:
        raise PlaywrightTimeoutError("notebook not saved in time") from exc
    if page.locator(DIALOG).count():
        raise RuntimeError(f"saving asked: {page.locator(DIALOG).first.inner_text()!r}")


def restart_kernel(page: Page, *, timeout: float | None = None) -> None:
    """Restart the kernel as a user does (command notebook:restart-kernel, answer "Restart" in the
    confirmation dialog; the same in Lab and Notebook 7) and wait until the new kernel is idle."""
    page.evaluate(
        _js(
            """
            const panel = panelOf();
            const seen = (window.__oauthLoginRestart = []);
            const record = (_, status) => seen.push(status);
            panel.sessionContext.statusChanged.connect(record);
            app.shell.activateById(panel.id);
            app.commands.execute("notebook:restart-kernel").catch((e) => console.error("restart failed", e));
            """
        )
    )
    restarted = _js(
        f"""
        if (arg && document.querySelector("{DIALOG}")) return "dialog";
        return window.__oauthLoginRestart.includes("restarting") && kernelIdle(panelOf()) ? "done" : false;
        """
    )
    wait = {"timeout": _timeout(timeout), "polling": 100}
    if page.wait_for_function(restarted, arg=True, **wait).json_value() == "dialog":
        page.locator(DIALOG_ACCEPT).first.click()
        page.wait_for_function(restarted, arg=False, **wait)


def complete_login_in(
    popup: Page,
    *,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    consent: Consent = "allow",
    provider_prefix: str | None = None,
    expect_url_prefix: str | None = None,
) -> BrowserResult:
    """``complete_login`` for a window the page opened itself (no ``goto``): wait until the popup has
    left ``about:blank`` and loaded a page (with ``provider_prefix``, e.g. the issuer, one under it:
    a start URL that redirects by script rather than HTTP is passed over), answer the provider's
    login and consent pages, then wait for the page at ``expect_url_prefix`` (the callback)."""
    with _PageWatch(popup) as watch:
        popup.wait_for_url(lambda u: not u.startswith("about:"), wait_until="load")
        if provider_prefix is not None:
            popup.wait_for_url(
                lambda u: (
                    u.startswith(provider_prefix)
                    or (expect_url_prefix is not None and u.startswith(expect_url_prefix))
                ),
                wait_until="load",
            )
        steps = _drive_provider_pages(popup, username, password, consent)
        if expect_url_prefix is not None:
            popup.wait_for_url(lambda u: u.startswith(expect_url_prefix), wait_until="load")
        popup.wait_for_load_state("load")
        return watch.result(steps)


def screenshot(locator: Locator, path: str | os.PathLike[str], *, padding: int = 0) -> Path:
    """Save a PNG of ``locator`` (e.g. the login panel) for the README; ``padding`` pixels around it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    locator.wait_for(state="visible")
    locator.scroll_into_view_if_needed()
    if not padding:
        locator.screenshot(path=str(target), animations="disabled")
        return target
    box = locator.bounding_box()
    if box is None:
        raise RuntimeError("element has no box to capture")
    clip = {
        "x": max(0.0, box["x"] - padding),
        "y": max(0.0, box["y"] - padding),
        "width": box["width"] + 2 * padding,
        "height": box["height"] + 2 * padding,
    }
    locator.page.screenshot(path=str(target), clip=clip, animations="disabled")  # type: ignore[arg-type]
    return target
