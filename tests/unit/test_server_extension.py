"""The jupyter-server extension (the sign-in relay), against a real jupyter_server in the test's loop.

pytest-jupyter's fixtures start a ServerApp with this package's extension enabled under a non-default
``base_url`` (``/user/alice/``, as under JupyterHub), so every route must be joined with it. The
fixtures are imported into this module only (not registered as a global plugin: its autouse fixtures
would then start and clean up a ServerApp around every test of the suite). Its async-test hook is not
registered either, so the async tests here run through ``in_server_loop``, in the loop the server
uses. The kernel-side client (``_relay.ServerRelay``) blocks, so it runs in threads
(``asyncio.to_thread``) while the server answers in the loop.
"""

# The pytest-jupyter fixtures imported below are requested by parameter name, which pyflakes reads as
# redefining the import:
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import json
import logging
import os
import secrets
import threading
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from jupyter_core.utils import ensure_event_loop
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.utils import url_path_join

# pytest-jupyter's fixtures, for this module only (see the docstring).
from pytest_jupyter.jupyter_core import (  # noqa: F401
    echo_kernel_spec,
    jp_asyncio_loop,
    jp_config_dir,
    jp_data_dir,
    jp_env_config_path,
    jp_env_jupyter_path,
    jp_environ,
    jp_home_dir,
    jp_kernel_dir,
    jp_runtime_dir,
    jp_system_config_path,
    jp_system_jupyter_path,
)
from pytest_jupyter.jupyter_server import (  # noqa: F401
    jp_argv,
    jp_auth_header,
    jp_configurable_serverapp,
    jp_fetch,
    jp_http_port,
    jp_logging_stream,
    jp_nbconvert_templates,
    jp_root_dir,
    jp_server_cleanup,
    jp_serverapp,
    jp_web_app,
)
from pytest_jupyter.pytest_tornasync import http_server, http_server_client, http_server_port  # noqa: F401
from tornado.httpclient import HTTPResponse
from traitlets.config import Config

from oauth_login import _pages, _server_extension
from oauth_login._errors import ConfigurationError, LoginTimeoutError, SignInLinkExpiredError, TransportError
from oauth_login._relay import RelayResult, ServerRelay, find_server, require_extension
from oauth_login._server_extension import MAX_ATTEMPTS, AttemptRegistry

BASE_URL = "/user/alice/"
AUTHORIZE = "https://idp.example.com/authorize?client_id=notebook&response_type=code"
ISSUER = "https://idp.example.com"

UNAUTHENTICATED_OFF = pytest.param({"allow_unauthenticated_access": False}, id="no-unauthenticated-access")
DEFAULT_ACCESS = pytest.param({}, id="default-access")


def in_server_loop(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test in the event loop pytest-jupyter's server uses (its own hook does the same)."""

    @functools.wraps(test)  # keeps the signature, so pytest still injects the fixtures
    def run(*args: Any, **kwargs: Any) -> None:
        ensure_event_loop(prefer_selector_loop=True).run_until_complete(test(*args, **kwargs))

    return run


@pytest.fixture
def jp_base_url() -> str:
    return BASE_URL


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> Config:
    """The extension enabled (terminals off: their websocket fails the unauthenticated-access check).

    Parametrize indirectly with a dict of ``ServerApp`` settings to change; ``jpserver_extensions``
    entries are merged.
    """
    overrides = dict(getattr(request, "param", {}))
    extensions = {"oauth_login": True, "jupyter_server_terminals": False}
    extensions.update(overrides.pop("jpserver_extensions", {}))
    return Config({"ServerApp": {"jpserver_extensions": extensions, **overrides}})


class Server:
    """Requests to the test server: as the kernel (token), as a browser without any login, as a stranger."""

    def __init__(
        self, fetch: Any, client: Any, port: int, token: str, registry: AttemptRegistry | None
    ) -> None:
        self._fetch = fetch
        self._client = client
        self.port = port
        self.token = token
        self.registry = registry
        self.origin = f"http://127.0.0.1:{port}"  # the Host the test client sends

    async def request(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict[str, str] | None = None,
        body: Any = None,
        auth: str = "token",
        request_timeout: float = 20,
    ) -> HTTPResponse:
        """``auth``: "token" (the kernel), "none" (a fresh browser), "wrong" (a wrong token)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        kwargs: dict[str, Any] = {
            "method": method,
            "raise_error": False,
            "follow_redirects": False,
            "request_timeout": request_timeout,
        }
        if body is not None:
            kwargs["body"] = body
        if auth == "token":
            return await self._fetch(path, params=params, **kwargs)  # jp_fetch: base_url + token
        if auth == "wrong":
            return await self._fetch(path, params=params, headers={"Authorization": "token wrong"}, **kwargs)
        assert auth == "none"
        url = url_path_join(BASE_URL, path) + ("?" + urlencode(params) if params else "")
        return await self._client.fetch(url, **kwargs)  # no Authorization header, no cookie

    async def register(self, state: str, *, expect: int = 201, **fields: Any) -> dict[str, Any]:
        body = {
            "state_sha256": hashlib.sha256(state.encode()).hexdigest(),
            "authorization_url": AUTHORIZE,
            "redirect_uri": None,
            "ttl": 60,
            **fields,
        }
        response = await self.request("oauth-login/api/attempts", method="POST", body=body)
        assert response.code == expect, response.body
        return json.loads(response.body)

    async def poll(
        self, attempt_id: str, *, timeout: float = 0.05, opened: bool = False, request_timeout: float = 20
    ) -> HTTPResponse:
        """The kernel's long-poll; ``opened``: the kernel already knows of one opening."""
        return await self.request(
            f"oauth-login/api/attempts/{attempt_id}",
            method="POST",
            body={"timeout": timeout, "opens": int(opened)},
            request_timeout=request_timeout,
        )

    async def poll_json(self, attempt_id: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.poll(attempt_id, **kwargs)
        assert response.code == 200, response.body
        answer: dict[str, Any] = json.loads(response.body)
        return answer

    async def start(self, link: dict[str, Any] | str, *, origin: str | None = None) -> HTTPResponse:
        """Open a start link as the browser does: a registration's (its first link) or a start id."""
        start_id = link["start_path"].rsplit("/", 1)[1] if isinstance(link, dict) else link
        params = {"origin": origin} if origin is not None else None
        return await self.request(f"oauth-login/start/{start_id}", params=params)

    async def callback(self, **params: str) -> HTTPResponse:
        """As the provider's redirect arrives: a browser that may have no Jupyter login at all."""
        return await self.request("oauth-login/callback", params=params, auth="none")

    def relay(self, token: str | None = None) -> ServerRelay:
        """The kernel's real client, pointed at this server's internal URL."""
        url = f"http://127.0.0.1:{self.port}{BASE_URL}"
        return ServerRelay(url=url, token=self.token if token is None else token, source="runtime file")


@pytest.fixture
def server(jp_serverapp: Any, jp_fetch: Any, http_server_client: Any, jp_http_port: int) -> Server:
    registry = jp_serverapp.web_app.settings.get("oauth_login_registry")  # None without the extension
    return Server(jp_fetch, http_server_client, jp_http_port, jp_serverapp.identity_provider.token, registry)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """The extension's clock, under test control (the event loop keeps the real one)."""
    fake = types.SimpleNamespace(now=time.monotonic())
    fake.monotonic = lambda: fake.now
    monkeypatch.setattr(_server_extension, "time", fake)
    return fake


@pytest.fixture(autouse=True)
def _no_hub_or_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "JUPYTERHUB_API_TOKEN",
        "JUPYTERHUB_BASE_URL",
        "JUPYTERHUB_PUBLIC_URL",
        "OAUTH_LOGIN_PUBLIC_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def new_state() -> str:
    return secrets.token_urlsafe(32)


def assert_page_headers(response: HTTPResponse) -> None:
    for name, value in _pages.SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def redirect_query(response: HTTPResponse) -> dict[str, list[str]]:
    assert response.code == 302, response.body
    location = response.headers["Location"]
    assert location.startswith("https://idp.example.com/authorize?")
    return parse_qs(urlsplit(location).query)


def own_callback(server: Server, origin: str | None = None) -> str:
    return f"{origin or server.origin}{BASE_URL}oauth-login/callback"


# --- the extension is there, under base_url ------------------------------------------------------------


@in_server_loop
async def test_the_extension_is_loaded_under_base_url(server, jp_serverapp):
    assert jp_serverapp.base_url == BASE_URL
    assert jp_serverapp.extension_manager.extensions["oauth_login"].enabled
    response = await server.request("oauth-login/api/info")
    assert response.code == 200
    assert json.loads(response.body) == {
        "version": _server_extension.__version__,
        "base_url": BASE_URL,
        "callback_path": f"{BASE_URL}oauth-login/callback",
        "jupyterhub": False,
    }
    # Not at the server root: the routes are joined with base_url.
    root = await server._client.fetch("/oauth-login/api/info", raise_error=False, follow_redirects=False)
    assert root.code == 404


# --- authentication matrix --------------------------------------------------------------------------------

PROTECTED = [
    pytest.param("GET", "oauth-login/api/info", id="GET api/info"),
    pytest.param("POST", "oauth-login/api/attempts", id="POST api/attempts"),
    pytest.param("POST", "oauth-login/api/attempts/{id}", id="POST api/attempts/<id>"),
    pytest.param("DELETE", "oauth-login/api/attempts/{id}", id="DELETE api/attempts/<id>"),
    pytest.param("GET", "oauth-login/start/{start}", id="GET start/<id>"),
]


@pytest.mark.parametrize("jp_server_config", [DEFAULT_ACCESS, UNAUTHENTICATED_OFF], indirect=True)
@pytest.mark.parametrize("auth", ["none", "wrong"])
@pytest.mark.parametrize(("method", "route"), PROTECTED)
@in_server_loop
async def test_everything_but_the_callback_needs_the_token(server, method, route, auth):
    state = new_state()
    attempt = await server.register(state)
    body = (
        {"state_sha256": "0" * 64, "authorization_url": AUTHORIZE, "redirect_uri": None, "ttl": 60}
        if method == "POST"
        else None
    )
    path = route.format(id=attempt["id"], start=attempt["start_path"].rsplit("/", 1)[1])

    response = await server.request(path, method=method, body=body, auth=auth, params={"timeout": "0.05"})

    if route.startswith("oauth-login/start/"):
        # A page: jupyter_server sends the browser to its login page, never to the provider.
        assert response.code == 302
        location = response.headers["Location"]
        assert location.startswith(f"{BASE_URL}login?next=")
        assert "idp.example.com" not in location
    else:
        assert response.code == 403
        assert "id" not in json.loads(response.body)
    # Nothing happened: the attempt is neither opened, cancelled, consumed nor joined by another.
    assert [a.id for a in server.registry._by_id.values()] == [attempt["id"]]
    assert await server.poll_json(attempt["id"]) == {"status": "pending"}


@pytest.mark.parametrize("jp_server_config", [DEFAULT_ACCESS, UNAUTHENTICATED_OFF], indirect=True)
@in_server_loop
async def test_with_the_token_everything_works(server):
    assert (await server.request("oauth-login/api/info")).code == 200
    attempt = await server.register(new_state())
    assert (await server.poll(attempt["id"])).code == 200
    start = await server.start(attempt)
    assert start.code == 302 and start.headers["Location"].startswith("https://idp.example.com/")
    delete = await server.request(f"oauth-login/api/attempts/{attempt['id']}", method="DELETE")
    assert delete.code == 204


@pytest.mark.parametrize("jp_server_config", [DEFAULT_ACCESS, UNAUTHENTICATED_OFF], indirect=True)
@in_server_loop
async def test_the_callback_needs_no_login(server):
    unknown = await server.callback(code="c", state="never-registered")
    assert unknown.code == 400  # reachable (not 403 / a login redirect), and refused: unknown state
    assert_page_headers(unknown)

    state = new_state()
    attempt = await server.register(state)
    known = await server.callback(code="c", state=state)
    assert known.code == 200
    assert_page_headers(known)
    assert (await server.poll_json(attempt["id"]))["status"] == "done"


# --- registering an attempt ---------------------------------------------------------------------------


@in_server_loop
async def test_register_answers_the_id_and_a_start_path_under_base_url(server):
    attempt = await server.register(new_state(), ttl=120)
    assert set(attempt) == {"id", "start_path", "expires_in"}
    prefix, start_id = attempt["start_path"].rsplit("/", 1)
    assert prefix == f"{BASE_URL}oauth-login/start"
    assert attempt["expires_in"] == 120
    assert len(attempt["id"]) >= 20 and len(start_id) >= 20
    # BUG (B7): the first start id was the attempt id, so whoever saw the link could poll for the code.
    assert start_id != attempt["id"]
    assert (await server.start(attempt["id"])).code == 404  # the attempt id opens nothing
    other = await server.register(new_state())
    assert other["id"] != attempt["id"]


@in_server_loop
async def test_the_server_never_gets_the_state_itself(server):
    state = new_state()
    attempt = await server.register(state)
    stored = server.registry.get(attempt["id"])
    assert state not in repr(vars(stored))
    assert stored.state_sha256 == hashlib.sha256(state.encode()).hexdigest()


BAD_BODIES = [
    pytest.param({"state_sha256": "abc"}, "state_sha256", id="digest-too-short"),
    pytest.param({"state_sha256": "a" * 65}, "state_sha256", id="digest-too-long"),
    pytest.param({"state_sha256": "g" * 64}, "state_sha256", id="digest-not-hex"),
    pytest.param({"state_sha256": "A" * 64}, "state_sha256", id="digest-upper-case"),
    pytest.param({"state_sha256": 12345}, "state_sha256", id="digest-not-a-string"),
    pytest.param({"state_sha256": None}, "state_sha256", id="digest-missing"),
    pytest.param({"authorization_url": "javascript:alert(1)"}, "authorization_url", id="url-javascript"),
    pytest.param({"authorization_url": "ftp://idp.example.com/a"}, "authorization_url", id="url-ftp"),
    pytest.param({"authorization_url": "//idp.example.com/a"}, "authorization_url", id="url-no-scheme"),
    pytest.param({"authorization_url": ""}, "authorization_url", id="url-empty"),
    pytest.param({"authorization_url": 7}, "authorization_url", id="url-not-a-string"),
    pytest.param({"redirect_uri": 7}, "redirect_uri", id="redirect-uri-number"),
    pytest.param({"redirect_uri": ["https://a"]}, "redirect_uri", id="redirect-uri-list"),
    pytest.param({"ttl": 0}, "ttl", id="ttl-0"),
    pytest.param({"ttl": -5}, "ttl", id="ttl-negative"),
    pytest.param({"ttl": 3601}, "ttl", id="ttl-over-an-hour"),
    pytest.param({"ttl": "60"}, "ttl", id="ttl-string"),
    pytest.param({"ttl": None}, "ttl", id="ttl-null"),
]


@pytest.mark.parametrize(("change", "message"), BAD_BODIES)
@in_server_loop
async def test_bad_registrations_are_refused_with_a_message(server, change, message):
    answer = await server.register(new_state(), expect=400, **change)
    assert message in answer["message"]
    assert not server.registry._by_id


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
@in_server_loop
async def test_a_ttl_that_is_not_a_finite_number_is_refused(server, number):
    body = (
        f'{{"state_sha256": "{"0" * 64}", "authorization_url": "{AUTHORIZE}", "redirect_uri": null,'
        f' "ttl": {number}}}'
    )
    response = await server.request("oauth-login/api/attempts", method="POST", body=body)
    assert response.code == 400
    assert not server.registry._by_id


@pytest.mark.parametrize("ttl", [0.5, 3600])
@in_server_loop
async def test_the_ttl_bounds_are_inclusive_of_an_hour(server, ttl):
    await server.register(new_state(), ttl=ttl)


@in_server_loop
async def test_a_body_that_is_not_json_is_refused(server):
    response = await server.request("oauth-login/api/attempts", method="POST", body="state=abc")
    assert response.code == 400


@pytest.mark.parametrize("body", [["x"], "a string", 42], ids=["list", "string", "number"])
@in_server_loop
async def test_a_json_body_that_is_not_an_object_is_refused(server, body):
    # BUG: AttemptsHandler.post calls body.get() on whatever JSON came: an AttributeError, so a 500.
    response = await server.request("oauth-login/api/attempts", method="POST", body=json.dumps(body))
    assert response.code == 400, response.body


@in_server_loop
async def test_an_authorization_url_urlsplit_cannot_parse_is_refused(server):
    # BUG: urlsplit raises ValueError("Invalid IPv6 URL") inside the check: a 500, not a 400.
    answer_code = (
        await server.request(
            "oauth-login/api/attempts",
            method="POST",
            body={"state_sha256": "0" * 64, "authorization_url": "https://[::1/authorize", "ttl": 60},
        )
    ).code
    assert answer_code == 400


@in_server_loop
async def test_at_most_max_attempts_wait_at_once(server, clock):
    ids = [(await server.register(new_state(), ttl=60))["id"] for _ in range(MAX_ATTEMPTS)]
    answer = await server.register(new_state(), expect=429)
    assert "too many" in answer["message"]
    # A cancelled attempt frees its place ...
    await server.request(f"oauth-login/api/attempts/{ids[0]}", method="DELETE")
    await server.register(new_state(), ttl=600)
    await server.register(new_state(), expect=429)
    # ... and so do expired ones.
    clock.now += 61
    await server.register(new_state())
    assert len(server.registry._by_id) == 2


# --- the start link -----------------------------------------------------------------------------------


@in_server_loop
async def test_start_redirects_to_the_provider_with_the_servers_own_callback(server):
    attempt = await server.register(new_state())
    response = await server.start(attempt)
    query = redirect_query(response)
    assert query == {
        "client_id": ["notebook"],
        "response_type": ["code"],
        "redirect_uri": [own_callback(server)],
    }
    # The redirect itself leaks nothing and is not cached.
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in response.headers


@in_server_loop
async def test_start_keeps_the_authorization_urls_query_and_drops_a_fragment(server):
    url = "https://idp.example.com/authorize?state=s%20t&scope=openid+profile&code_challenge=abc#frag"
    attempt = await server.register(new_state(), authorization_url=url)
    response = await server.start(attempt)
    location = response.headers["Location"]
    assert "#" not in location
    assert parse_qs(urlsplit(location).query) == {
        "state": ["s t"],
        "scope": ["openid profile"],
        "code_challenge": ["abc"],
        "redirect_uri": [own_callback(server)],
    }


@in_server_loop
async def test_start_uses_the_browsers_origin_when_it_matches_the_host(server):
    attempt = await server.register(new_state())
    origin = f"https://127.0.0.1:{server.port}"  # e.g. TLS ended by a proxy: the browser knows best
    query = redirect_query(await server.start(attempt, origin=origin))
    assert query["redirect_uri"] == [own_callback(server, origin)]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://127.0.0.1:1",  # same host, other port
        "https://{host}/somewhere/else",  # a path is not an origin
        "javascript://{host}",
        "",
    ],
)
@in_server_loop
async def test_start_ignores_an_origin_that_is_not_the_requests_host(server, origin):
    attempt = await server.register(new_state())
    reported = origin.format(host=f"127.0.0.1:{server.port}")
    query = redirect_query(await server.start(attempt, origin=reported))
    assert query["redirect_uri"] == [own_callback(server)]


@pytest.mark.parametrize("variable", ["OAUTH_LOGIN_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL"])
@in_server_loop
async def test_start_falls_back_to_the_configured_public_url(server, monkeypatch, variable):
    monkeypatch.setenv(variable, "https://jupyter.example.org/ignored/path/")
    first = await server.register(new_state())
    query = redirect_query(await server.start(first, origin="https://evil.example.com"))
    assert query["redirect_uri"] == [f"https://jupyter.example.org{BASE_URL}oauth-login/callback"]
    # A matching origin from the browser still wins.
    second = await server.register(new_state())
    origin = f"https://127.0.0.1:{server.port}"
    query = redirect_query(await server.start(second, origin=origin))
    assert query["redirect_uri"] == [own_callback(server, origin)]


@in_server_loop
async def test_start_uses_the_registered_redirect_uri_when_there_is_one(server, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/")
    fixed = "https://notebooks.example.org/fixed/callback"
    attempt = await server.register(new_state(), redirect_uri=fixed)
    query = redirect_query(await server.start(attempt, origin=f"http://127.0.0.1:{server.port}"))
    assert query["redirect_uri"] == [fixed]


@pytest.mark.parametrize(
    ("hub_base", "path"),
    [
        ("/", "/hub/user-redirect/oauth-login/callback"),
        ("/jhub/", "/jhub/hub/user-redirect/oauth-login/callback"),
    ],
)
@in_server_loop
async def test_under_jupyterhub_one_redirect_uri_serves_the_whole_hub(server, monkeypatch, hub_base, path):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", hub_base)
    origin = f"https://127.0.0.1:{server.port}"
    first = await server.register(new_state())
    assert redirect_query(await server.start(first, origin=origin))["redirect_uri"] == [origin + path]
    second = await server.register(new_state())
    assert redirect_query(await server.start(second))["redirect_uri"] == [server.origin + path]
    info = json.loads((await server.request("oauth-login/api/info")).body)
    assert info["jupyterhub"] is True


@in_server_loop
async def test_a_used_start_link_opened_again_cancels_the_attempt(server):
    # BUG (B7): a used link got a 410 and the attempt went on, so whoever opened it first (someone
    # the link leaked to) could still finish a sign-in into this kernel.
    state = new_state()
    attempt = await server.register(state)
    assert (await server.start(attempt)).code == 302
    again = await server.start(attempt)
    assert again.code == 410
    assert_page_headers(again)
    assert b"idp.example.com" not in again.body
    assert b"already used" in again.body
    assert await server.poll_json(attempt["id"]) == {"status": "failed", "error": "start_link_reused"}
    assert server.registry.get(attempt["id"]) is None  # the kernel was told: the server forgets it
    assert (await server.callback(code="c", state=state)).code == 400  # no code is taken any more


@in_server_loop
async def test_the_next_link_still_works_and_only_a_used_one_cancels(server):
    attempt = await server.register(new_state())
    assert (await server.start(attempt)).code == 302
    news = await server.poll_json(attempt["id"], timeout=5)
    assert news["status"] == "opened" and news["opens"] == 1
    assert (await server.start(news["start_path"].rsplit("/", 1)[1])).code == 302  # a legitimate re-click
    news = await server.poll_json(attempt["id"], timeout=5, opened=True)  # the kernel learns the next one
    assert news["status"] == "opened" and news["opens"] == 2
    assert (await server.start("never-issued-id")).code == 404  # a guess cancels nothing
    assert (await server.poll_json(attempt["id"], opened=True))["status"] == "opened"


@in_server_loop
async def test_the_relay_client_says_the_link_was_opened_twice(server):
    from oauth_login._errors import CallbackError

    relay = server.relay()
    attempt = await asyncio.to_thread(
        relay.register, state=new_state(), authorization_url=AUTHORIZE, redirect_uri=None, ttl=60
    )
    await server.start(attempt)
    await server.start(attempt)
    with pytest.raises(CallbackError, match="opened twice"):
        await asyncio.to_thread(
            relay.wait, attempt["id"], timeout=5, idle_timeout=5, cancelled=threading.Event()
        )


@in_server_loop
async def test_the_start_link_never_reaches_the_log(server, caplog):
    # BUG (B7): the 302 to the provider was logged at INFO with the live start path.
    caplog.set_level(logging.DEBUG)
    attempt = await server.register(new_state())
    start_id = attempt["start_path"].rsplit("/", 1)[1]
    unauthenticated = await server.request(f"oauth-login/start/{start_id}", auth="none")
    assert unauthenticated.code == 302  # to the login page, with the link in "next"
    assert start_id in unauthenticated.headers["Location"]
    login = await server.request(
        "login", params={"next": f"{BASE_URL}oauth-login/start/{start_id}"}, auth="none"
    )
    assert login.code == 200  # the browser follows it: the login page's request names the link too
    assert (await server.start(attempt)).code == 302
    assert (await server.start(attempt)).code == 410
    assert "oauth-login/start/[redacted]" in caplog.text  # the access log was captured ...
    assert "start%2F[redacted]" in caplog.text  # ... with the login page's ...
    assert start_id not in caplog.text  # ... and no live link


@pytest.mark.parametrize("attempt_id", ["unknown-id", "A" * 22])
@in_server_loop
async def test_an_unknown_start_link_is_404(server, attempt_id):
    response = await server.start(attempt_id)
    assert response.code == 404
    assert_page_headers(response)


# --- the callback ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"code": "c", "state": "unknown"},
        {"code": "c"},
        {"code": "c", "state": ""},
        {},
        {"state": "<script>alert(1)</script>"},
    ],
    ids=["unknown-state", "no-state", "empty-state", "nothing", "markup-state"],
)
@in_server_loop
async def test_a_callback_with_an_unknown_state_stores_nothing(server, params):
    attempt = await server.register(new_state())
    response = await server.callback(**params)
    assert response.code == 400
    assert_page_headers(response)
    assert b"<script" not in response.body
    assert server.registry.get(attempt["id"]).params is None
    assert await server.poll_json(attempt["id"]) == {"status": "pending"}


@in_server_loop
async def test_a_callback_reaches_the_kernel_once(server):
    state = new_state()
    attempt = await server.register(state)
    start = await server.start(attempt)
    redirect_uri = redirect_query(start)["redirect_uri"][0]

    response = await server.callback(code="the-code", state=state, iss=ISSUER)
    assert response.code == 200
    assert response.body == _pages.RECEIVED
    assert_page_headers(response)

    assert await server.poll_json(attempt["id"], opened=True) == {
        "status": "done",
        "params": {"code": "the-code", "state": state, "iss": ISSUER},
        "redirect_uri": redirect_uri,
    }
    gone = await server.poll(attempt["id"])  # the kernel has it: the server forgets it
    assert gone.code == 404
    assert server.registry.get(attempt["id"]) is None


@in_server_loop
async def test_a_replayed_callback_is_refused(server):
    state = new_state()
    attempt = await server.register(state)
    assert (await server.callback(code="first", state=state)).code == 200
    replay = await server.callback(code="second", state=state)  # before the kernel collected it
    assert replay.code == 400
    assert (await server.poll_json(attempt["id"]))["params"]["code"] == "first"
    assert (await server.callback(code="third", state=state)).code == 400  # and after


@in_server_loop
async def test_a_callback_keeps_only_the_authorization_response(server):
    state = new_state()
    attempt = await server.register(state)
    response = await server.callback(
        code="c", state=state, iss=ISSUER, token="jupyter-token", session_state="x", _xsrf="y", extra="z"
    )
    assert response.code == 200
    answer = await server.poll_json(attempt["id"])
    assert answer["params"] == {"code": "c", "state": state, "iss": ISSUER}


@in_server_loop
async def test_an_expired_attempt_takes_no_callback(server, clock):
    state = new_state()
    attempt = await server.register(state, ttl=5)
    clock.now += 4.9
    assert server.registry.get(attempt["id"]) is not None
    clock.now += 0.2
    response = await server.callback(code="late", state=state)
    assert response.code == 400
    assert (await server.poll(attempt["id"])).code == 404
    assert (await server.start(attempt)).code == 404


@in_server_loop
async def test_an_error_callback_escapes_the_providers_text(server):
    state = new_state()
    attempt = await server.register(state)
    description = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    error = "access_denied<b>"
    response = await server.callback(error=error, error_description=description, state=state)
    assert response.code == 400
    assert_page_headers(response)
    body = response.body.decode()
    assert "<script" not in body and "<img" not in body and "<b>" not in body
    assert html.escape(description) in body
    assert html.escape(error) in body
    answer = await server.poll_json(attempt["id"])
    assert answer["status"] == "done"
    assert answer["params"] == {"error": error, "error_description": description, "state": state}


@in_server_loop
async def test_the_code_and_state_never_reach_the_log(server, caplog):
    caplog.set_level(logging.DEBUG)
    state = new_state()
    attempt = await server.register(state)
    await server.start(attempt)
    await server.callback(code="secret-code-123", state=state)
    await server.callback(code="secret-code-456", state=state)  # refused: logged as a warning
    await server.poll_json(attempt["id"], opened=True)
    assert f"{BASE_URL}oauth-login/callback?" in caplog.text  # the access log was captured ...
    assert "secret-code-" not in caplog.text  # ... and scrubbed
    assert state not in caplog.text


async def parked(server, attempt_id: str) -> None:
    """Until a long-poll for ``attempt_id`` waits at the server (its event has a waiter): no sleeping."""
    attempt = server.registry.get(attempt_id)
    for _ in range(10_000):
        if attempt is None or attempt.changed._waiters:
            return
        await asyncio.sleep(0)  # a turn of the event loop, not a delay
    raise AssertionError("the long-poll never reached the server")


# --- the long-poll --------------------------------------------------------------------------------------


@in_server_loop
async def test_a_poll_answers_pending_after_its_timeout(server):
    attempt = await server.register(new_state())
    assert await server.poll_json(attempt["id"], timeout=0.05) == {"status": "pending"}


@in_server_loop
async def test_a_poll_never_waits_longer_than_max_poll(server, monkeypatch):
    monkeypatch.setattr(_server_extension, "MAX_POLL", 0.05)
    attempt = await server.register(new_state())
    answer = await server.poll_json(attempt["id"], timeout=600, request_timeout=5)
    assert answer == {"status": "pending"}


@pytest.mark.parametrize(
    "body",
    ['{"timeout": "soon"}', '{"timeout": NaN}', '{"timeout": true}', '{"opens": "1"}', "[1]", "x=1"],
)
@in_server_loop
async def test_a_bad_poll_is_refused(server, body):
    attempt = await server.register(new_state())
    response = await server.request(
        f"oauth-login/api/attempts/{attempt['id']}", method="POST", body=body, request_timeout=3
    )
    assert response.code == 400, (response.code, response.body)


@in_server_loop
async def test_a_poll_reports_the_link_was_opened(server):
    attempt = await server.register(new_state())
    first = await server.start(attempt)
    answer = await server.poll_json(attempt["id"], timeout=25)  # news: at once
    assert answer["status"] == "opened"
    # The used link is spent; the answer names the next one, for a pop-up closed too early.
    assert answer["start_path"].startswith(f"{BASE_URL}oauth-login/start/")
    assert answer["start_path"] != attempt["start_path"]
    again = await server.start(answer["start_path"].rsplit("/", 1)[1])  # the user clicks Sign in again
    assert again.code == 302
    assert again.headers["Location"] == first.headers["Location"]  # the same attempt, the same provider URL
    # Already known: the next poll waits for something new, then says the same.
    assert (await server.poll_json(attempt["id"], timeout=0.05, opened=True))["status"] == "opened"


@in_server_loop
async def test_a_waiting_poll_wakes_when_the_link_is_opened(server):
    attempt = await server.register(new_state())
    poll = asyncio.ensure_future(server.poll_json(attempt["id"], timeout=25))
    await parked(server, attempt["id"])
    assert not poll.done()
    await server.start(attempt)
    assert (await asyncio.wait_for(poll, 5))["status"] == "opened"


@in_server_loop
async def test_a_waiting_poll_wakes_when_the_callback_arrives(server):
    state = new_state()
    attempt = await server.register(state)
    await server.start(attempt)
    poll = asyncio.ensure_future(server.poll_json(attempt["id"], timeout=25, opened=True))
    await parked(server, attempt["id"])
    assert not poll.done()
    await server.callback(code="c", state=state)
    answer = await asyncio.wait_for(poll, 5)
    assert answer["status"] == "done" and answer["params"]["code"] == "c"


@in_server_loop
async def test_a_poll_answers_done_at_once_when_the_callback_came_first(server):
    state = new_state()
    attempt = await server.register(state)
    await server.callback(code="early", state=state)
    answer = await server.poll_json(attempt["id"], timeout=25)
    assert answer == {"status": "done", "params": {"code": "early", "state": state}, "redirect_uri": None}


@in_server_loop
async def test_delete_cancels(server):
    state = new_state()
    attempt = await server.register(state)
    response = await server.request(f"oauth-login/api/attempts/{attempt['id']}", method="DELETE")
    assert response.code == 204
    assert (await server.poll(attempt["id"])).code == 404
    assert (await server.start(attempt)).code == 404
    assert (await server.callback(code="c", state=state)).code == 400
    again = await server.request(f"oauth-login/api/attempts/{attempt['id']}", method="DELETE")
    assert again.code == 204  # idempotent


@in_server_loop
async def test_delete_ends_a_waiting_poll(server):
    attempt = await server.register(new_state())
    poll = asyncio.ensure_future(server.poll(attempt["id"], timeout=25))
    await parked(server, attempt["id"])
    await server.request(f"oauth-login/api/attempts/{attempt['id']}", method="DELETE")
    response = await asyncio.wait_for(poll, 5)
    assert response.code == 404


@in_server_loop
async def test_an_unknown_attempt_is_404(server):
    assert (await server.poll("no-such-attempt")).code == 404


# --- two kernels at once --------------------------------------------------------------------------------


@in_server_loop
async def test_two_kernels_each_get_their_own_code(server):
    state_a, state_b = new_state(), new_state()
    a = await server.register(state_a)
    b = await server.register(state_b)
    await server.start(a)
    await server.start(b)
    poll_a = asyncio.ensure_future(server.poll_json(a["id"], timeout=25, opened=True))
    poll_b = asyncio.ensure_future(server.poll_json(b["id"], timeout=25, opened=True))
    await parked(server, a["id"])
    await parked(server, b["id"])

    assert (await server.callback(code="code-b", state=state_b)).code == 200
    answer_b = await asyncio.wait_for(poll_b, 5)
    assert not poll_a.done()  # B's callback did not wake A with anything
    assert (await server.callback(code="code-a", state=state_a)).code == 200
    answer_a = await asyncio.wait_for(poll_a, 5)

    assert answer_a["params"] == {"code": "code-a", "state": state_a}
    assert answer_b["params"] == {"code": "code-b", "state": state_b}


@in_server_loop
async def test_a_callback_for_one_attempt_never_completes_another(server):
    state_a, state_b = new_state(), new_state()
    a = await server.register(state_a)
    b = await server.register(state_b)
    assert (await server.callback(code="code-a", state=state_a)).code == 200
    assert (await server.callback(code="code-a-again", state=state_a)).code == 400  # not "the next one"
    assert await server.poll_json(b["id"]) == {"status": "pending"}
    assert server.registry.get(b["id"]).params is None
    assert (await server.poll_json(a["id"]))["params"]["code"] == "code-a"


# --- the kernel's real client ----------------------------------------------------------------------------


@in_server_loop
async def test_the_relay_client_signs_in_through_the_live_server(server):
    relay = server.relay()
    info = await asyncio.to_thread(relay.info)
    assert info is not None and info["base_url"] == BASE_URL
    state = new_state()
    attempt = await asyncio.to_thread(
        relay.register, state=state, authorization_url=AUTHORIZE, redirect_uri=None, ttl=60
    )
    assert attempt["start_path"].startswith(f"{BASE_URL}oauth-login/start/")

    opened = threading.Event()
    waiting = asyncio.ensure_future(
        asyncio.to_thread(
            relay.wait,
            attempt["id"],
            timeout=10,
            idle_timeout=10,
            cancelled=threading.Event(),
            on_open=lambda _next_link: opened.set(),
        )
    )
    start = await server.start(attempt)  # the user clicks Sign in
    redirect_uri = redirect_query(start)["redirect_uri"][0]
    assert await asyncio.to_thread(opened.wait, 10)
    assert not waiting.done()
    assert (await server.callback(code="the-code", state=state, iss=ISSUER)).code == 200

    result = await asyncio.wait_for(waiting, 10)
    assert isinstance(result, RelayResult)
    assert result.params == {"code": "the-code", "state": state, "iss": ISSUER}
    assert result.redirect_uri == redirect_uri == own_callback(server)
    assert server.registry.get(attempt["id"]) is None


@in_server_loop
async def test_the_relay_client_cancels(server):
    relay = server.relay()
    attempt = await asyncio.to_thread(
        relay.register, state=new_state(), authorization_url=AUTHORIZE, redirect_uri=None, ttl=60
    )
    await asyncio.to_thread(relay.cancel, attempt["id"])
    assert (await server.poll(attempt["id"])).code == 404
    await asyncio.to_thread(relay.cancel, attempt["id"])  # already gone: quiet
    with pytest.raises(LoginTimeoutError, match="forgot"):
        await asyncio.to_thread(
            relay.wait, attempt["id"], timeout=5, idle_timeout=5, cancelled=threading.Event()
        )


@in_server_loop
async def test_the_relay_client_gives_up_when_nobody_opens_the_link(server):
    relay = server.relay()
    attempt = await asyncio.to_thread(
        relay.register, state=new_state(), authorization_url=AUTHORIZE, redirect_uri=None, ttl=60
    )
    with pytest.raises(SignInLinkExpiredError):
        await asyncio.to_thread(
            relay.wait, attempt["id"], timeout=5, idle_timeout=0.1, cancelled=threading.Event()
        )


@in_server_loop
async def test_the_relay_client_with_a_wrong_token_is_refused(server):
    relay = server.relay(token="wrong")
    with pytest.raises(TransportError, match="403"):
        await asyncio.to_thread(relay.info)
    with pytest.raises(TransportError, match="403"):
        await asyncio.to_thread(
            relay.register, state=new_state(), authorization_url=AUTHORIZE, redirect_uri=None, ttl=60
        )
    assert not server.registry._by_id


WITHOUT_EXTENSION = pytest.param({"jpserver_extensions": {"oauth_login": False}}, id="without-extension")


@pytest.mark.parametrize("jp_server_config", [WITHOUT_EXTENSION], indirect=True)
@in_server_loop
async def test_the_relay_client_sees_a_server_without_the_extension(server, jp_serverapp):
    assert "oauth_login_registry" not in jp_serverapp.web_app.settings
    relay = server.relay()
    assert await asyncio.to_thread(relay.info) is None
    with pytest.raises(ConfigurationError, match="no oauth-login extension"):
        await asyncio.to_thread(require_extension, relay)


@in_server_loop
async def test_the_kernel_finds_its_server_from_the_runtime_file(server, jp_runtime_dir):
    # BUG: the runtime file's "url" already ends with base_url; find_server appends base_url again.
    relay = find_server(env={"JUPYTER_RUNTIME_DIR": str(jp_runtime_dir)}, parent_pid=os.getpid())
    assert relay is not None
    assert relay.token == server.token
    assert urlsplit(relay.url).path == BASE_URL
    assert (await asyncio.to_thread(relay.info)) is not None


def test_an_attempts_repr_shows_no_state_code_or_live_link():
    from oauth_login._server_extension import Attempt

    attempt = Attempt(
        id="attempt-id",
        state_sha256="0" * 64,
        authorization_url="https://idp.test/auth?state=the-state-value",
        redirect_uri=None,
        expires=0.0,
        params={"code": "the-code-value", "state": "the-state-value"},
        start_id="live-start-link",
    )
    shown = repr(attempt)
    for secret in ("the-state-value", "the-code-value", "live-start-link"):
        assert secret not in shown


# --- permissions: what JupyterHub's "read" access may do (B9) ----------------------------------------------


class ReadOnlyAuthorizer(Authorizer):
    """Allows only "read" actions, as a JupyterHub share with read permission does."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"


READ_ONLY = pytest.param({"authorizer_class": ReadOnlyAuthorizer}, id="read-only")


@pytest.mark.parametrize("jp_server_config", [READ_ONLY], indirect=True)
@in_server_loop
async def test_read_permission_can_neither_consume_a_code_nor_start_a_sign_in(server):
    # BUG (B9): the long-poll that hands over the code was a GET, allowed to a read-only user.
    assert (await server.request("oauth-login/api/info")).code == 200  # reading is fine
    state = new_state()
    attempt = server.registry.add(
        hashlib.sha256(state.encode()).hexdigest(), AUTHORIZE, None, 60, f"{BASE_URL}oauth-login/start/"
    )
    assert (await server.start({"start_path": attempt.start_prefix + attempt.start_id})).code == 403
    assert not attempt.opened
    assert (await server.callback(code="the-code", state=state)).code == 200
    assert (await server.poll(attempt.id)).code == 403
    assert server.registry.get(attempt.id) is attempt and attempt.params == {
        "code": "the-code",
        "state": state,
    }
    get = await server.request(f"oauth-login/api/attempts/{attempt.id}")  # the old GET long-poll
    assert get.code in (403, 405)
    assert server.registry.get(attempt.id) is attempt  # still waiting for its own kernel
