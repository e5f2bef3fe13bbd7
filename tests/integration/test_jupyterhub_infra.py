"""The JupyterHub test infrastructure (devtools/jupyterhub.py) works on its own, and the hub behaves as
the package relies on (docs/DESIGN: one redirect URI ``<hub>/hub/user-redirect/oauth-login/callback``).

One hub per module (users alice and bob, JupyterLab); alice and bob are logged in at the same time,
each in a browser context of their own (``BrowserThread.session()``). Nothing from oauth_login is used.
Run with ``-s`` to see what was measured (kernel environment, every redirect hop).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from devtools.browser import BrowserSession, BrowserThread
from devtools.jupyter import code_notebook, run_all, wait_for_output
from devtools.jupyterhub import (
    JupyterHub,
    Visit,
    hub_login,
    open_user_notebook,
    submit_login_form,
    visit,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

USERS = ("alice", "bob")
NOTEBOOK = "whoami.ipynb"
QUERY = "x=1&y=2"

PROBE = """\
import json, os
from jupyter_core.paths import jupyter_runtime_dir
names = ["JUPYTERHUB_USER", "JUPYTERHUB_SERVICE_URL", "JUPYTERHUB_BASE_URL", "JUPYTERHUB_SERVICE_PREFIX",
         "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_API_URL", "JUPYTERHUB_HOST", "JUPYTERHUB_OAUTH_CALLBACK_URL",
         "JUPYTER_RUNTIME_DIR", "HOME", "OAUTH_LOGIN_ISSUER"]
facts = {name: os.environ.get(name) for name in names}
facts["jupyterhub_names"] = sorted(k for k in os.environ if k.startswith("JUPYTERHUB_"))
facts["api_token_set"] = bool(os.environ.get("JUPYTERHUB_API_TOKEN"))
runtime = jupyter_runtime_dir()
ppid = os.getppid()
info_file = os.path.join(runtime, f"jpserver-{ppid}.json")
facts.update(runtime_dir=runtime, cwd=os.getcwd(), ppid=ppid, jpserver_exists=os.path.exists(info_file),
             runtime_files=sorted(n for n in os.listdir(runtime) if not n.startswith("kernel-")))
if facts["jpserver_exists"]:
    with open(info_file) as f:
        info = json.load(f)
    facts["jpserver"] = {k: info.get(k) for k in ("url", "base_url", "root_dir", "port", "pid", "secure")}
    facts["jpserver_token_set"] = bool(info.get("token"))
with open(f"/proc/{ppid}/cmdline", "rb") as f:
    facts["parent_cmd"] = f.read().replace(b"\\0", b" ").decode().strip()
print("FACTS " + json.dumps(facts))
"""


def _notebook() -> Any:
    return code_notebook(PROBE)


@pytest.fixture(scope="module")
def hub() -> Iterator[JupyterHub]:
    started = time.monotonic()
    running = JupyterHub(users=USERS, env={"OAUTH_LOGIN_ISSUER": "http://127.0.0.1:9/issuer"})
    with running:
        print(f"\nhub up in {time.monotonic() - started:.1f}s at {running.url}")
        for user in USERS:
            running.write_notebook(user, NOTEBOOK, _notebook())
        yield running
        started = time.monotonic()
    print(f"hub stopped in {time.monotonic() - started:.1f}s")
    assert running.leftovers == [], f"processes outlived the hub: {running.leftovers}"


@pytest.fixture(scope="module")
def sessions(hub: JupyterHub, browser: BrowserThread) -> Iterator[dict[str, BrowserSession]]:
    """alice and bob, each logged in inside a browser context of their own, at the same time."""
    with browser.session() as alice, browser.session() as bob:
        logged_in = {"alice": alice, "bob": bob}
        for user, session in logged_in.items():
            session.submit(hub_login, hub, user).result(timeout=60)
        yield logged_in


def _probe(page: Page, hub: JupyterHub, user: str) -> dict[str, Any]:
    open_user_notebook(page, hub, user, NOTEBOOK)
    run_all(page)
    text = wait_for_output(page, 0, "FACTS ").inner_text()
    assert page.url.startswith(hub.notebook_url(user, NOTEBOOK)), page.url
    return dict(json.loads(text.split("FACTS ", 1)[1].strip()))


def test_two_users_each_see_their_own_kernel(hub: JupyterHub, sessions: dict[str, BrowserSession]) -> None:
    started = time.monotonic()
    facts = {
        user: session.submit(_probe, hub, user).result(timeout=120) for user, session in sessions.items()
    }
    print(f"\nboth notebooks ran in {time.monotonic() - started:.1f}s")
    for user, seen in facts.items():
        print(f"{user}: {json.dumps(seen, indent=1)}")
        home = str(hub.user_dir(user))
        assert seen["JUPYTERHUB_USER"] == user
        assert seen["JUPYTERHUB_BASE_URL"] == "/"
        assert seen["JUPYTERHUB_SERVICE_PREFIX"] == f"/user/{user}/"
        # The internal address of the server itself (the spawner's random port), not the public URL.
        service_url = urllib.parse.urlsplit(seen["JUPYTERHUB_SERVICE_URL"])
        assert service_url.hostname == "127.0.0.1" and service_url.path == f"/user/{user}/"
        assert not seen["JUPYTERHUB_SERVICE_URL"].startswith(hub.url)
        # Set but empty unless c.JupyterHub.public_url is set (then: the public URL of the user's server).
        assert seen["JUPYTERHUB_PUBLIC_URL"] == "" and seen["JUPYTERHUB_HOST"] == ""
        assert seen["api_token_set"]
        assert seen["OAUTH_LOGIN_ISSUER"] == "http://127.0.0.1:9/issuer"  # c.Spawner.environment
        assert seen["HOME"] == home and seen["cwd"] == home
        assert seen["JUPYTER_RUNTIME_DIR"] is None
        assert seen["runtime_dir"] == f"{home}/.local/share/jupyter/runtime"
        # The kernel's parent is the single-user server, which wrote jpserver-<its pid>.json.
        assert "jupyterhub.singleuser" in seen["parent_cmd"]
        assert seen["jpserver_exists"], seen["runtime_files"]
        assert seen["jpserver"]["base_url"] == f"/user/{user}/"
        assert seen["jpserver"]["url"] == seen["JUPYTERHUB_SERVICE_URL"]
        assert seen["jpserver"]["pid"] == seen["ppid"]
        assert seen["jpserver"]["root_dir"] == home
    assert facts["alice"]["ppid"] != facts["bob"]["ppid"]


def _redirect(page: Page, hub: JupyterHub, path: str, user: str) -> Visit:
    """user-redirect, waiting (through spawn-pending, if any) until the page is under /user/<user>/."""
    target = hub.user_url(user)
    return visit(page, hub.user_redirect_url(path), until=lambda u: u.startswith(target))


def _log(name: str, result: Visit) -> None:
    print(f"\n{name}: {result.status} {result.url}")
    for status, url in result.hops:
        print(f"   {status} {url}")
    print(f"   text: {result.text[:300]!r}")


def test_user_redirect_keeps_path_and_query(hub: JupyterHub, sessions: dict[str, BrowserSession]) -> None:
    for user, session in sessions.items():
        hub.start_server(user)
        result = session.submit(_redirect, hub, f"some/path?{QUERY}", user).result(timeout=60)
        _log(f"user-redirect as {user}", result)
        assert result.url == hub.user_url(user, f"some/path?{QUERY}")
        assert result.status == 404  # the single-user server's own "not found" page
        hops = [urllib.parse.urlsplit(url).path for _, url in result.hops]
        # One hop through /hub/spawn/<user>?next=... (answered at once: the server is running).
        assert hops == ["/hub/user-redirect/some/path", f"/hub/spawn/{user}", f"/user/{user}/some/path"]


def test_user_redirect_query_encoding(hub: JupyterHub, sessions: dict[str, BrowserSession]) -> None:
    """The hub rebuilds the query (``url_concat(path, parse_qsl(query))``): the values survive, the
    encoding does not (``%20`` becomes ``+``), and parameters with an empty value are dropped."""
    query = "code=abc%2Fdef&state=s-1&empty=&sp=a%20b&plus=a+b&iss=http%3A%2F%2F127.0.0.1%3A9%2Fi&k=1&k=2"
    hub.start_server("alice")
    result = sessions["alice"].submit(_redirect, hub, f"no-such-route/callback?{query}", "alice").result(60)
    _log("user-redirect with an OAuth-like query", result)
    print(f"   query sent:   {query}\n   query landed: {urllib.parse.urlsplit(result.url).query}")
    assert result.url == hub.user_url(
        "alice",
        "no-such-route/callback?code=abc%2Fdef&state=s-1&sp=a+b&plus=a+b"
        "&iss=http%3A%2F%2F127.0.0.1%3A9%2Fi&k=1&k=2",
    )
    got = urllib.parse.parse_qs(urllib.parse.urlsplit(result.url).query, keep_blank_values=True)
    assert got == {
        "code": ["abc/def"],
        "state": ["s-1"],
        "sp": ["a b"],
        "plus": ["a b"],
        "iss": ["http://127.0.0.1:9/i"],
        "k": ["1", "2"],
    }  # no "empty"


def _fresh_redirect(page: Page, hub: JupyterHub, user: str) -> dict[str, Any]:
    """A browser that is not logged in: user-redirect → login form; log in → where does it land?"""
    first = visit(page, hub.user_redirect_url(f"some/path?{QUERY}"))
    hops: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: (
            hops.append((r.status, r.url))
            if r.request.is_navigation_request() and r.frame == page.main_frame
            else None
        ),
    )
    submit_login_form(page, user)
    target = hub.user_url(user)
    page.wait_for_url(lambda u: u.startswith(target), wait_until="load")
    return {"first": first, "after_login": page.url, "login_hops": hops}


def test_user_redirect_in_a_fresh_browser_goes_through_login(hub: JupyterHub, browser: BrowserThread) -> None:
    hub.start_server("bob")
    seen = browser.submit(_fresh_redirect, hub, "bob").result(timeout=60)
    first: Visit = seen["first"]
    _log("user-redirect, not logged in", first)
    print(f"   after login: {seen['after_login']}")
    for status, url in seen["login_hops"]:
        print(f"   {status} {url}")
    login = urllib.parse.urlsplit(first.url)
    assert login.path == "/hub/login" and first.status == 200
    assert urllib.parse.parse_qs(login.query)["next"] == [f"/hub/user-redirect/some/path?{QUERY}"]
    assert seen["after_login"] == hub.user_url("bob", f"some/path?{QUERY}")


def _direct_then_redirect(page: Page, hub: JupyterHub, user: str) -> tuple[Visit, Visit]:
    direct = visit(page, hub.user_url(user, f"some/path?{QUERY}"))
    redirected = _redirect(page, hub, f"some/path?{QUERY}", user)
    return direct, redirected


def test_stopped_server(hub: JupyterHub, sessions: dict[str, BrowserSession]) -> None:
    """alice's server stopped: ``/user/alice/...`` is routed to the hub, which answers 424 with its
    "Server not running ... Launch Server" page (the query is not passed on). ``/hub/user-redirect/...``
    goes through ``/hub/spawn/alice?next=...``: with no options form the hub *starts the server*,
    shows ``/hub/spawn-pending/alice`` and then lands on ``/user/alice/some/path?x=1&y=2``. For the
    sign-in relay that means a callback does reach a server, but a new one: the kernel that registered
    the state died with the old server, so the new server must answer "unknown state"."""
    hub.stop_server("alice")
    started = time.monotonic()
    direct, redirected = sessions["alice"].submit(_direct_then_redirect, hub, "alice").result(timeout=90)
    elapsed = time.monotonic() - started
    _log("stopped server, /user/alice/some/path", direct)
    _log("stopped server, user-redirect", redirected)
    print(f"   both in {elapsed:.1f}s")
    assert direct.status == 424
    assert urllib.parse.urlsplit(direct.url).path == "/hub/user/alice/some/path"
    assert redirected.url == hub.user_url("alice", f"some/path?{QUERY}")
    assert redirected.status == 404
    assert hub.server("alice") is not None  # the user-redirect spawned it
