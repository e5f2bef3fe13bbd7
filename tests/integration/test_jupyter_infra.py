"""The Jupyter test infrastructure (devtools/jupyter.py) works on its own, in JupyterLab and Notebook 7.

Nothing from oauth_login is used: a tiny inline anywidget stands in for the login panel, and a
loopback http.server stands in for the loopback receiver: ``/start`` redirects to wherever the test
says (like the receiver's start URL), every other path answers 200 (like its callback).
"""

from __future__ import annotations

import http.server
import re
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from devtools.idp_process import DevIdP
from devtools.jupyter import (
    JupyterServer,
    cell,
    cell_output_text,
    code_notebook,
    complete_login_in,
    open_notebook,
    restart_kernel,
    run_all,
    run_cell,
    save,
    screenshot,
    wait_for_output,
    wait_idle,
    widget,
)
from tests.integration.test_infra_smoke import authorization_url, post_form

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NOTEBOOK = "probe.ipynb"
RELEASE = "release.flag"

CELL_MARKER = """\
import os, sys
print("kernel-stderr-probe", file=sys.__stderr__, flush=True)
print("marker-ready pid", os.getpid())"""

# The root element mimics the login panel's contract (data-testid, data-state); the button opens a
# window inside the click (user activation) and only then points it at a URL taken from a trait:
# exactly what the real panel does with its start URL.
CELL_WIDGET = '''\
import anywidget, traitlets

class Probe(anywidget.AnyWidget):
    _esm = """
    export default {
      render({ model, el }) {
        const root = document.createElement("div");
        root.dataset.testid = "oauth-login-panel";
        root.dataset.state = "signed_out";
        const button = document.createElement("button");
        button.dataset.testid = "probe";
        button.textContent = "Probe";
        button.addEventListener("click", () => {
          const popup = window.open("", "_blank");
          popup.location.href = model.get("url");
          const clicks = model.get("clicks") + 1;
          model.set("clicks", clicks);
          model.save_changes();
          root.dataset.clicks = String(clicks);
        });
        root.appendChild(button);
        el.appendChild(root);
      },
    };
    """
    url = traitlets.Unicode().tag(sync=True)
    clicks = traitlets.Int(0).tag(sync=True)

probe = Probe(url=os.environ["PROBE_URL"] + "/start")
probe'''

# Blocks the kernel's main thread until the test creates the flag file (cwd = the notebook's dir).
CELL_BLOCK = f"""\
import pathlib, time
print("blocking", flush=True)
while not pathlib.Path({RELEASE!r}).exists():
    time.sleep(0.05)
print("released clicks =", probe.clicks)"""


def probe_notebook() -> Any:
    return code_notebook(CELL_MARKER, CELL_WIDGET, CELL_BLOCK)


class ProbeSite:
    """127.0.0.1:<port>: ``/start`` redirects (302) to ``start_target``; other paths answer 200 and are
    recorded in ``hits`` (the favicon too: browsers ask for it)."""

    def __init__(self) -> None:
        site = self
        self.hits: list[str] = []
        self.start_target = "/hit"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/start":
                    self.send_response(302)
                    self.send_header("location", site.start_target)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                site.hits.append(self.path)
                body = b"<p id='hit'>probe reached</p>"
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def pages(self, since: int = 0) -> list[str]:
        return [hit for hit in self.hits[since:] if hit != "/favicon.ico"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)  # serve_forever() has returned after shutdown(); bounded all the same


@pytest.fixture(scope="module")
def probe_site() -> Iterator[ProbeSite]:
    site = ProbeSite()
    yield site
    site.close()


@pytest.fixture(scope="module", params=["lab", "notebook"])
def server(request: pytest.FixtureRequest, probe_site: ProbeSite) -> Iterator[JupyterServer]:
    env = {"PROBE_URL": probe_site.base}  # reaches the kernel: the widget's URL comes from it
    with JupyterServer(request.param, notebooks={NOTEBOOK: probe_notebook()}, env=env) as running:
        yield running


def test_server_basics(server: JupyterServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.api("status")["started"]
    assert (server.root_dir / NOTEBOOK).exists()
    path = "lab/tree" if server.app == "lab" else "notebooks"
    assert server.notebook_url(NOTEBOOK) == f"{server.url}{path}/{NOTEBOOK}?token={server.token}"
    # The private JUPYTER_DATA_DIR hides no labextension: the page lists both widget managers.
    page = server.request(server.notebook_url(NOTEBOOK).removeprefix(server.url)).decode()
    assert '"name": "anywidget"' in page and '"name": "@jupyter-widgets/jupyterlab-manager"' in page


def story(page: Page, server: JupyterServer, site: ProbeSite, shots: Any) -> None:
    (server.root_dir / RELEASE).unlink(missing_ok=True)
    assert open_notebook(page, server, NOTEBOOK) == []
    run_all(page)
    wait_for_output(page, 0, "marker-ready pid")
    pid = re.search(r"pid (\d+)", cell_output_text(page, 0))
    assert pid is not None

    panel = widget(page, 1)
    panel.wait_for()
    assert panel.get_attribute("data-state") == "signed_out"
    screenshot(panel, shots / f"{server.app}-panel.png", padding=4)

    # Cell 2 is running (prompt [*]) while the button is clicked: the popup needs no kernel.
    wait_for_output(page, 2, "blocking")
    assert "*" in cell(page, 2).locator(".jp-InputPrompt").inner_text()
    hits = len(site.hits)
    site.start_target = "/hit?from=probe"
    with page.context.expect_page() as info:
        panel.get_by_test_id("probe").click()
    popup = info.value  # about:blank -> /start -> 302 -> /hit
    popup.wait_for_url(f"{site.base}/hit?from=probe", wait_until="load")
    assert popup.inner_text("#hit") == "probe reached"
    assert site.pages(hits) == ["/hit?from=probe"]
    assert panel.get_attribute("data-clicks") == "1"
    popup.close()
    assert "*" in cell(page, 2).locator(".jp-InputPrompt").inner_text()  # still running

    # The click's comm message waits behind the running cell: the kernel saw 0 clicks until it ended.
    (server.root_dir / RELEASE).touch()
    wait_for_output(page, 2, "released clicks = 0")
    run_cell(page, 2)
    wait_for_output(page, 2, "released clicks = 1")
    wait_idle(page)

    save(page)
    saved = server.read_notebook(NOTEBOOK)
    texts = ["".join(out.get("text", "") for out in c.outputs) for c in saved.cells]
    assert "marker-ready pid" in texts[0]
    assert "released clicks = 1" in texts[2]
    assert any(
        "application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in saved.cells[1].outputs
    )
    # Widget state (trait values) is not saved by default (the widget managers' saveState is off).
    assert "widgets" not in saved.metadata
    assert f"{site.base}/start" not in (server.root_dir / NOTEBOOK).read_text()

    restart_kernel(page)
    run_cell(page, 0)
    wait_for_output(page, 0, re.compile(rf"marker-ready pid (?!{pid[1]}\b)\d+"))

    # What the kernel writes to its real stderr (fd 2: sys.__stderr__, C code, subprocesses) reaches
    # the server's log AND, forwarded by ipykernel's fd capture (asynchronously), the cell's output.
    assert "kernel-stderr-probe" in server.log()
    wait_for_output(page, 0, "kernel-stderr-probe")


def test_notebook_story(server: JupyterServer, probe_site: ProbeSite, browser: Any, tmp_path: Any) -> None:
    browser.submit(story, server, probe_site, tmp_path).result(timeout=100)


def sign_in_through_popup(page: Page, server: JupyterServer, site: ProbeSite, idp: DevIdP) -> None:
    """The real shape of a login: the popup goes about:blank -> loopback start URL -> provider
    (login, consent) -> loopback callback; complete_login_in drives it."""
    open_notebook(page, server, NOTEBOOK)
    run_cell(page, 0)
    run_cell(page, 1)  # queued behind cell 0
    wait_idle(page)  # a new widget, not the stale view of the previous kernel's model
    panel = widget(page, 1)
    panel.wait_for()
    redirect_uri = f"{site.base}/callback"
    site.start_target, verifier = authorization_url(idp, redirect_uri, state="popup-state")
    hits = len(site.hits)
    with page.expect_popup() as info:
        panel.get_by_test_id("probe").click()
    result = complete_login_in(info.value, provider_prefix=idp.issuer, expect_url_prefix=redirect_uri)
    assert result.steps == ["login", "consent"]
    assert result.status == 200
    (callback,) = site.pages(hits)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
    assert query["state"] == "popup-state"
    status, tokens = post_form(
        idp.discovery["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": "notebook",
        },
    )
    assert status == 200, tokens
    assert "access_token" in tokens


def test_popup_login_with_the_dev_provider(
    server: JupyterServer, probe_site: ProbeSite, idp: DevIdP, browser: Any
) -> None:
    browser.submit(sign_in_through_popup, server, probe_site, idp).result(timeout=100)
