"""oauth_login.auth_client: flytekit's API with a safer flow, against the real local servers, no browser.

The browser is played with http.client (redirects not followed), the provider's token endpoint is a
requests adapter mounted on the session the client is given.
"""

from __future__ import annotations

import http.server
import inspect
import json
import logging
import queue
import signal
import socket
import subprocess
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from oauth_login import (
    AccessDeniedError,
    ConfigurationError,
    Credentials,
    InvalidGrantError,
    LoginTimeoutError,
    OAuthLoginError,
    TransportError,
)
from oauth_login._pkce import s256_challenge
from oauth_login._transport import InsecureTransportWarning
from oauth_login.auth_client import (
    DEFAULT_LOGIN_TIMEOUT,
    AccessTokenNotFoundError,
    AuthorizationClient,
    AuthorizationCode,
    EndpointMetadata,
    InvalidRefreshTokenError,
    OAuthCallbackHandler,
    OAuthHTTPServer,
)
from tests.fake_provider import make_id_token

IDP = "https://idp.test"
GRANT_KEYS = {"grant_type", "code", "redirect_uri", "client_id", "code_verifier"}


# --- fakes: the provider's token endpoint and the browser --------------------------------------------
class FakeTokenEndpoint(BaseAdapter):
    """Answers POST {IDP}/token; records every form body and the ``verify`` requests passed."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, str]] = []
        self.verify_seen: list[Any] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []  # queued answers, then the default
        self.id_token: str | None = None
        self.refresh_token_returned = True
        self._lock = threading.Lock()

    def grants(self, grant_type: str) -> list[dict[str, str]]:
        return [body for body in self.bodies if body.get("grant_type") == grant_type]

    def send(
        self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True, **_: Any
    ) -> Any:
        raw = request.body or ""
        body = dict(parse_qsl(raw.decode() if isinstance(raw, bytes) else raw))
        with self._lock:
            self.bodies.append(body)
            self.verify_seen.append(verify)
            n = len(self.bodies)
            status, doc = self.answers.pop(0) if self.answers else (200, self._tokens(n))
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(doc).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def _tokens(self, n: int) -> dict[str, Any]:
        doc: dict[str, Any] = {"access_token": f"at-{n}", "token_type": "Bearer", "expires_in": 3600}
        if self.refresh_token_returned:
            doc["refresh_token"] = f"rt-{n}"
        if self.id_token:
            doc["id_token"] = self.id_token
        return doc

    def close(self) -> None:
        pass


def http_get(url: str, *, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One GET, redirects not followed: ``(status, lower-cased headers, body)``.

    Reads until the server closes, as a browser does with these HTTP/1.0 servers: the server's side
    of the connection then ends in TIME_WAIT, which is what a real sign-in leaves on the port.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {host or parts.netloc}\r\nConnection: close\r\n\r\n"
    chunks = []
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as sock:
        sock.sendall(request.encode("ascii"))
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.strip().lower(): v.strip() for k, v in headers.items()}, body


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


Answer = Callable[[dict[str, str]], "Mapping[str, str] | None"]


def approve(params: dict[str, str]) -> dict[str, str]:
    return {"code": "the-code", "state": params["state"], "iss": IDP}


class FakeBrowser:
    """Stands in for ``webbrowser.open_new_tab``: follows the start link, then sends the redirect.

    ``answer(authorization params)`` returns the redirect's query (None: the user never comes back).
    """

    def __init__(self, answer: Answer = approve, *, before: Callable[[str], None] | None = None) -> None:
        self.answer = answer
        self.before = before
        self.opened: list[str] = []
        self.authorization_urls: list[str] = []
        self.pages: list[tuple[int, dict[str, str], bytes]] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        if self.before is not None:
            self.before(url)
        status, headers, _ = http_get(url)
        assert status == 302
        self.authorization_urls.append(headers["location"])
        params = query(headers["location"])
        redirect = self.answer(params)
        if redirect is not None:
            self.pages.append(http_get(f"{params['redirect_uri']}?{urlencode(redirect)}"))
        return True

    @property
    def params(self) -> dict[str, str]:
        return query(self.authorization_urls[-1])


@pytest.fixture
def token_endpoint() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
def session(token_endpoint: FakeTokenEndpoint) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.mount(f"{IDP}/", token_endpoint)
        yield s


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> FakeBrowser:
    fake = FakeBrowser()
    monkeypatch.setattr(webbrowser, "open_new_tab", fake)
    return fake


def make_client(session: requests.Session, **kwargs: Any) -> AuthorizationClient:
    settings: dict[str, Any] = {
        "endpoint": "flyte.test",
        "auth_endpoint": f"{IDP}/authorize",
        "token_endpoint": f"{IDP}/token",
        "client_id": "cli",
        "redirect_uri": "http://localhost/callback",
        "scopes": ["offline_access"],
        "session": session,
    }
    settings.update(kwargs)
    return AuthorizationClient(**settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_port_free(port: int) -> None:
    """Nothing listens on ``port`` any more: connections are refused and a new server can listen there.

    SO_REUSEADDR as every server sets it: the port may still hold TIME_WAIT connections of the
    finished sign-in, which never stop a new listener, while a live listener always does.
    """
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


# --- the API is flytekit's -----------------------------------------------------------------------------
FLYTEKIT_CLIENT_PARAMS = [
    ("endpoint", inspect.Parameter.empty),
    ("auth_endpoint", inspect.Parameter.empty),
    ("token_endpoint", inspect.Parameter.empty),
    ("audience", None),
    ("scopes", None),
    ("client_id", None),
    ("redirect_uri", None),
    ("endpoint_metadata", None),
    ("verify", None),
    ("session", None),
    ("request_auth_code_params", None),
    ("request_access_token_params", None),
    ("refresh_access_token_params", None),
    ("add_request_auth_code_params_to_request_access_token_params", False),
]


def positional(cls: type) -> list[tuple[str, Any]]:
    params = list(inspect.signature(cls).parameters.values())
    return [(p.name, p.default) for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


def test_authorization_client_signature_is_flytekits_plus_a_keyword_only_timeout():
    assert positional(AuthorizationClient) == FLYTEKIT_CLIENT_PARAMS
    timeout = inspect.signature(AuthorizationClient).parameters["timeout"]
    assert timeout.kind is inspect.Parameter.KEYWORD_ONLY
    assert timeout.default == DEFAULT_LOGIN_TIMEOUT == 300
    assert len(inspect.signature(AuthorizationClient).parameters) == 15


def test_server_metadata_and_code_signatures_are_flytekits():
    assert positional(OAuthHTTPServer) == [
        ("server_address", inspect.Parameter.empty),
        ("remote_metadata", inspect.Parameter.empty),
        ("request_handler_class", inspect.Parameter.empty),
        ("bind_and_activate", True),
        ("redirect_path", None),
        ("queue", None),
    ]
    assert positional(EndpointMetadata) == [
        ("endpoint", inspect.Parameter.empty),
        ("success_html", None),
        ("failure_html", None),
    ]
    assert [p.name for p in inspect.signature(AuthorizationCode).parameters.values()] == ["code", "state"]
    assert list(inspect.signature(OAuthHTTPServer.handle_request).parameters)[:2] == ["self", "queue"]
    for name in ("get_creds_from_remote", "refresh_access_token"):
        assert callable(getattr(AuthorizationClient, name))
    for name in ("redirect_path", "remote_metadata"):
        assert isinstance(getattr(OAuthHTTPServer, name), property)
    assert issubclass(OAuthCallbackHandler, http.server.BaseHTTPRequestHandler)


def test_credentials_is_the_core_class_and_takes_flytekits_arguments():
    from oauth_login import auth_client

    assert auth_client.Credentials is Credentials
    creds = Credentials("at", "rt", "flyte.test", expires_in=60, id_token=None)
    assert (creds.access_token, creds.refresh_token, creds.for_endpoint) == ("at", "rt", "flyte.test")


def test_importing_oauth_login_does_not_import_auth_client():
    code = "import sys, oauth_login; print('oauth_login.auth_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_each_construction_is_a_new_client_not_a_per_endpoint_singleton(session):
    first = make_client(session, client_id="a")
    second = make_client(session, client_id="b")
    assert first is not second
    assert "'b'" in repr(second)


# --- signing in -----------------------------------------------------------------------------------------
def test_login_uses_pkce_s256_and_fresh_secrets_for_every_attempt(session, token_endpoint, browser):
    client = make_client(session, scopes=["openid", "offline_access"])
    seen: list[dict[str, str]] = []

    def answer(params: dict[str, str]) -> dict[str, str]:
        seen.append(params)
        token_endpoint.id_token = make_id_token(
            {"iss": IDP, "aud": "cli", "exp": 2**31, "sub": "alice", "nonce": params["nonce"]}
        )
        return approve(params)

    browser.answer = answer
    first = client.get_creds_from_remote()
    second = client.get_creds_from_remote()

    for params, body in zip(seen, token_endpoint.grants("authorization_code"), strict=True):
        assert params["response_type"] == "code"
        assert params["client_id"] == "cli"
        assert params["code_challenge_method"] == "S256"
        assert params["scope"] == "openid offline_access"
        assert urlsplit(params["redirect_uri"]).hostname == "localhost"
        assert urlsplit(params["redirect_uri"]).port  # a free port was picked for the port-less URI
        assert s256_challenge(body["code_verifier"]) == params["code_challenge"]
        assert body["redirect_uri"] == params["redirect_uri"]
        assert body["code"] == "the-code"
        assert set(body) == GRANT_KEYS
    assert seen[0]["state"] != seen[1]["state"]
    assert seen[0]["nonce"] != seen[1]["nonce"]
    assert seen[0]["code_challenge"] != seen[1]["code_challenge"]
    assert first.access_token == "at-1"
    assert first.refresh_token == "rt-1"
    assert first.for_endpoint == "flyte.test"
    assert first.claims["sub"] == "alice"
    assert second.access_token == "at-2"
    assert browser.pages[0][0] == 200
    assert b"flyte.test" not in browser.pages[0][2]  # default page names the auth host, not the API
    assert b"idp.test" in browser.pages[0][2]


def test_id_token_with_another_nonce_is_refused(session, token_endpoint, browser):
    from oauth_login import IDTokenError

    token_endpoint.id_token = make_id_token({"iss": IDP, "aud": "cli", "exp": 2**31, "nonce": "stale"})
    client = make_client(session, scopes=["openid"])
    with pytest.raises(IDTokenError):
        client.get_creds_from_remote()


def test_callers_own_pkce_pair_is_used_and_token_request_holds_only_grant_params(
    session, token_endpoint, browser
):
    verifier = "v" * 43 + "-._~0123456789"
    challenge = s256_challenge(verifier)
    client = make_client(
        session,
        audience="api://flyte",
        request_auth_code_params={
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "consent",
            "state": "caller-state",
            "nonce": "caller-nonce",
            "response_type": "token",
            "custom": "1",
        },
        request_access_token_params={"code_verifier": verifier, "scope": "everything"},
        add_request_auth_code_params_to_request_access_token_params=True,
    )
    client.get_creds_from_remote()

    params = browser.params
    assert params["code_challenge"] == challenge
    assert params["state"] != "caller-state"
    assert params["response_type"] == "code"
    assert params["prompt"] == "consent"
    assert params["audience"] == "api://flyte"
    assert params["custom"] == "1"
    (body,) = token_endpoint.bodies
    assert set(body) == GRANT_KEYS | {"audience", "custom"}
    assert body["code_verifier"] == verifier
    assert body["audience"] == "api://flyte"


def test_without_copying_auth_params_the_token_request_has_no_extras(session, token_endpoint, browser):
    client = make_client(session, audience="api://flyte", request_auth_code_params={"custom": "1"})
    client.get_creds_from_remote()
    (body,) = token_endpoint.bodies
    assert set(body) == GRANT_KEYS


def test_a_challenge_without_its_verifier_is_never_sent(session):
    challenge = s256_challenge("v" * 43)
    with pytest.raises(ConfigurationError, match="no code_verifier"):
        make_client(session, request_auth_code_params={"code_challenge": challenge})
    with pytest.raises(ConfigurationError, match="not the S256 hash"):
        make_client(
            session,
            request_auth_code_params={"code_challenge": challenge},
            request_access_token_params={"code_verifier": "w" * 43},
        )
    with pytest.raises(ConfigurationError, match="plain"):
        make_client(session, request_auth_code_params={"code_challenge_method": "plain"})


def test_a_lone_caller_verifier_gets_its_s256_challenge(session, browser):
    verifier = "x" * 50
    make_client(session, request_access_token_params={"code_verifier": verifier}).get_creds_from_remote()
    assert browser.params["code_challenge"] == s256_challenge(verifier)


def test_favicon_junk_and_a_foreign_state_do_not_break_the_login(session, browser):
    answered: list[int] = []

    def answer(params: dict[str, str]) -> dict[str, str]:
        base = params["redirect_uri"]
        for junk in ("/favicon.ico", "/", "/callback/extra"):
            status, headers, body = http_get(base.replace("/callback", junk))
            answered.append(status)
            assert int(headers["content-length"]) == len(body)
        # A redirect that belongs to another attempt gets an error page and ends nothing.
        status, _, _ = http_get(f"{base}?{urlencode({'code': 'other', 'state': 'not-ours'})}")
        answered.append(status)
        return approve(params)

    browser.answer = answer
    creds = make_client(session).get_creds_from_remote()
    assert answered == [404, 404, 404, 400]
    assert creds.access_token == "at-1"


def test_error_redirect_ends_with_access_denied_failure_html_and_a_free_port(session, browser):
    port = free_port()
    client = make_client(
        session,
        redirect_uri=f"http://127.0.0.1:{port}/callback",
        endpoint_metadata=EndpointMetadata("flyte.test", failure_html=b"<p>custom failure</p>"),
    )
    browser.answer = lambda p: {"error": "access_denied", "error_description": "no", "state": p["state"]}
    with pytest.raises(AccessDeniedError) as caught:
        client.get_creds_from_remote()
    assert caught.value.error == "access_denied"
    status, headers, body = browser.pages[0]
    assert (status, body) == (400, b"<p>custom failure</p>")
    assert headers["referrer-policy"] == "no-referrer"
    assert_port_free(port)


def test_user_who_never_comes_back_gets_a_timeout_and_the_port_is_freed(session, browser):
    port = free_port()
    client = make_client(session, redirect_uri=f"http://127.0.0.1:{port}/callback", timeout=0.3)
    browser.answer = lambda params: None
    with pytest.raises(LoginTimeoutError):
        client.get_creds_from_remote()
    assert_port_free(port)


def test_ctrl_c_propagates_after_freeing_the_port(session, browser):
    port = free_port()
    client = make_client(session, redirect_uri=f"http://127.0.0.1:{port}/callback", timeout=30)
    interrupter: list[threading.Thread] = []

    def press_ctrl_c(_params: dict[str, str]) -> None:
        # A real SIGINT to the main thread, from another thread, as a terminal would send it.
        thread = threading.Thread(
            target=signal.pthread_kill, args=(threading.main_thread().ident, signal.SIGINT)
        )
        interrupter.append(thread)
        thread.start()

    browser.answer = press_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        client.get_creds_from_remote()
    interrupter[0].join()
    assert_port_free(port)
    browser.answer = approve
    assert client.get_creds_from_remote().access_token == "at-1"  # the client is usable again


def test_non_loopback_redirect_uri_is_refused_before_anything_listens(session, browser):
    for uri in ("http://0.0.0.0:8080/callback", "http://example.com:8080/callback", "https://localhost/cb"):
        with pytest.raises(ConfigurationError) as caught:
            make_client(session, redirect_uri=uri).get_creds_from_remote()
        assert caught.value.hint
    assert browser.opened == []


def hold_browser_until_followers_wait(
    client: AuthorizationClient, browser: FakeBrowser, monkeypatch: pytest.MonkeyPatch, followers: int
) -> None:
    """The login completes only once ``followers`` other callers are waiting for it (no sleeps)."""
    joined = threading.Semaphore(0)
    original_join = client._join_login

    def counting_join(login: Any) -> Credentials:
        joined.release()
        return original_join(login)

    def wait_for_followers(_url: str) -> None:
        for _ in range(followers):
            assert joined.acquire(timeout=10)

    monkeypatch.setattr(client, "_join_login", counting_join)
    browser.before = wait_for_followers


def call_together(n: int, fn: Callable[[], Any]) -> list[Any]:
    start = threading.Barrier(n)

    def call() -> Any:
        start.wait(timeout=10)
        try:
            return fn()
        except OAuthLoginError as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return [f.result(timeout=30) for f in [pool.submit(call) for _ in range(n)]]


def test_concurrent_callers_share_one_login(session, token_endpoint, browser, monkeypatch):
    client = make_client(session)
    hold_browser_until_followers_wait(client, browser, monkeypatch, followers=3)
    results = call_together(4, client.get_creds_from_remote)
    assert len(browser.opened) == 1
    assert len(token_endpoint.grants("authorization_code")) == 1
    assert all(isinstance(r, Credentials) and r is results[0] for r in results)


def test_concurrent_callers_share_the_outcome_of_a_refused_login(
    session, token_endpoint, browser, monkeypatch
):
    client = make_client(session)
    browser.answer = lambda p: {"error": "access_denied", "state": p["state"]}
    hold_browser_until_followers_wait(client, browser, monkeypatch, followers=2)
    errors = call_together(3, client.get_creds_from_remote)
    assert len(browser.opened) == 1
    assert all(isinstance(e, AccessDeniedError) for e in errors)
    assert token_endpoint.bodies == []


def test_a_client_without_client_id_says_so_on_use(session, browser):
    client = make_client(session, client_id=None)
    with pytest.raises(ConfigurationError, match="client_id"):
        client.get_creds_from_remote()
    with pytest.raises(ConfigurationError, match="client_id"):
        client.refresh_access_token(Credentials("at", "rt", "flyte.test"))
    assert browser.opened == []


def test_secrets_stay_out_of_reprs_logs_and_stderr(session, token_endpoint, browser, caplog, capfd):
    caplog.set_level(logging.DEBUG, logger="oauth_login")
    verifier = "s" * 60
    client = make_client(session, request_access_token_params={"code_verifier": verifier})
    creds = client.get_creds_from_remote()
    params = browser.params
    secrets = [params["state"], verifier, "the-code", creds.access_token, str(creds.refresh_token)]
    text = repr(client) + repr(creds) + repr(AuthorizationCode("the-code", params["state"]))
    text += caplog.text + "".join(capfd.readouterr())
    for secret in secrets:
        assert secret not in text


def test_two_logins_in_a_row_on_a_fixed_port(session, browser):
    # flytekit's usual redirect URI has a fixed port; the first login leaves TIME_WAIT connections on it.
    client = make_client(session, redirect_uri=f"http://127.0.0.1:{free_port()}/callback")
    client.get_creds_from_remote()
    assert client.get_creds_from_remote().access_token == "at-2"


# --- refreshing -----------------------------------------------------------------------------------------
def test_refresh_keeps_the_refresh_token_when_the_provider_sends_none(session, token_endpoint):
    token_endpoint.refresh_token_returned = False
    client = make_client(session, refresh_access_token_params={"resource": "api", "state": "x"})
    old = Credentials("at-old", "rt-old", "flyte.test")
    new = client.refresh_access_token(old)
    assert (new.access_token, new.refresh_token) == ("at-1", "rt-old")
    (body,) = token_endpoint.bodies
    assert body == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-old",
        "client_id": "cli",
        "resource": "api",
    }


def test_refresh_takes_a_rotated_refresh_token(session):
    new = make_client(session).refresh_access_token(Credentials("at-old", "rt-old", "flyte.test"))
    assert new.refresh_token == "rt-1"
    assert new.for_endpoint == "flyte.test"


def test_refresh_without_a_refresh_token_raises_access_token_not_found(session, token_endpoint):
    with pytest.raises(AccessTokenNotFoundError):
        make_client(session).refresh_access_token(Credentials("at", None, "flyte.test"))
    assert token_endpoint.bodies == []


def test_refused_refresh_raises_access_token_not_found_and_keeps_invalid_grant_distinct(
    session, token_endpoint
):
    client = make_client(session)
    creds = Credentials("at", "rt-secret", "flyte.test")
    token_endpoint.answers = [
        (400, {"error": "invalid_grant", "error_description": "grant request is invalid"}),
        (401, {"error": "invalid_client"}),
    ]
    with pytest.raises(AccessTokenNotFoundError) as spent:
        client.refresh_access_token(creds)
    assert isinstance(spent.value, (InvalidRefreshTokenError, InvalidGrantError, RuntimeError))
    assert isinstance(spent.value, InvalidGrantError)
    assert spent.value.error == "invalid_grant"
    assert spent.value.status == 400
    with pytest.raises(AccessTokenNotFoundError) as refused:
        client.refresh_access_token(creds)
    assert not isinstance(refused.value, InvalidGrantError)
    assert isinstance(refused.value, RuntimeError)
    assert "rt-secret" not in str(spent.value) + str(refused.value)


def test_refresh_on_a_5xx_raises_transport_error_so_the_refresh_token_is_kept(session, token_endpoint):
    token_endpoint.answers = [(503, {})]
    with pytest.raises(TransportError):
        make_client(session).refresh_access_token(Credentials("at", "rt", "flyte.test"))


# --- TLS settings ---------------------------------------------------------------------------------------
def test_verify_false_warns_at_the_callers_line(session):
    with pytest.warns(InsecureTransportWarning, match="verify=False") as warned:
        make_client(session, verify=False)
    assert warned[0].filename == __file__


def test_verify_none_keeps_the_sessions_own_setting(session, token_endpoint, monkeypatch):
    # requests lets $REQUESTS_CA_BUNDLE replace a verify of None or True, never an explicit path:
    # the session's own CA bundle only survives if verify=None really hands requests session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/from-the-environment.pem")
    session.verify = "/etc/ssl/custom-ca.pem"
    make_client(session).refresh_access_token(Credentials("at", "rt", "flyte.test"))
    make_client(session, verify=True).refresh_access_token(Credentials("at", "rt", "flyte.test"))
    session.verify = False
    make_client(session).refresh_access_token(Credentials("at", "rt", "flyte.test"))
    custom, explicit, off = token_endpoint.verify_seen
    assert custom == "/etc/ssl/custom-ca.pem"
    assert explicit == "/etc/ssl/from-the-environment.pem"  # True: the default bundle, here from the env
    assert off is False  # the session's own choice, made (and warned about) by its owner


# --- OAuthHTTPServer --------------------------------------------------------------------------------------
@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[OAuthHTTPServer, queue.Queue[Any], Future[None]]]]:
    """Start ``handle_request(queue)`` of a new server in a thread; yields a factory."""
    pool = ThreadPoolExecutor(1)

    def start(
        metadata: EndpointMetadata | None = None, *, timeout: float = 30
    ) -> tuple[OAuthHTTPServer, queue.Queue[Any], Future[None]]:
        server = OAuthHTTPServer(
            ("127.0.0.1", 0),
            metadata or EndpointMetadata("flyte.test"),
            OAuthCallbackHandler,
            redirect_path="/callback",
        )
        items: queue.Queue[Any] = queue.Queue()
        return server, items, pool.submit(server.handle_request, items, timeout=timeout)

    yield start
    pool.shutdown(wait=True)


def url(server: OAuthHTTPServer, path: str, **params: str) -> str:
    return f"http://127.0.0.1:{server.server_port}{path}" + (f"?{urlencode(params)}" if params else "")


def test_server_favicon_then_callback_delivers_the_code_and_closes(serve):
    server, items, done = serve()
    status, headers, body = http_get(url(server, "/favicon.ico"))
    assert status == 404
    assert int(headers["content-length"]) == len(body)
    assert "default-src 'none'" in headers["content-security-policy"]
    assert not server.finished
    status, headers, body = http_get(url(server, "/callback", code="c-1", state="s-1"))
    assert status == 200
    assert b"flyte.test" in body
    assert headers["cache-control"] == "no-store"
    assert items.get(timeout=10) == AuthorizationCode("c-1", "s-1")
    done.result(timeout=10)
    assert_port_free(server.server_port)


def test_server_shows_success_html_and_ignores_requests_without_code_or_error(serve):
    server, items, done = serve(EndpointMetadata("flyte.test", success_html=b"<p>custom ok</p>"))
    assert http_get(url(server, "/callback"))[0] == 400  # a prefetch: keep waiting
    assert http_get(url(server, "/callback", code="c", state="s"))[2] == b"<p>custom ok</p>"
    done.result(timeout=10)
    assert items.get_nowait() == AuthorizationCode("c", "s")


def test_server_error_callback_renders_failure_html_and_ends(serve):
    server, items, done = serve(EndpointMetadata("flyte.test", failure_html=b"<p>custom failure</p>"))
    status, _, body = http_get(url(server, "/callback", error="access_denied", state="s"))
    assert (status, body) == (400, b"<p>custom failure</p>")
    with pytest.raises(AccessDeniedError):
        done.result(timeout=10)
    assert isinstance(items.get_nowait(), AccessDeniedError)
    assert_port_free(server.server_port)


def test_server_default_pages_escape_the_error_description(serve):
    server, _, done = serve()
    attack = "<script>alert(document.cookie)</script>"
    status, headers, body = http_get(
        url(server, "/callback", error="invalid_request", error_description=attack)
    )
    assert status == 400
    assert b"<script>" not in body
    assert b"&lt;script&gt;" in body
    assert headers["referrer-policy"] == "no-referrer"
    with pytest.raises(OAuthLoginError):
        done.result(timeout=10)


def test_server_answers_junk_and_foreign_hosts_with_complete_404s(serve):
    server, items, done = serve()
    for path in ("/", "/callback/../admin", "/start/x", "/favicon.ico"):
        status, headers, body = http_get(url(server, path, code="c", state="s"))
        assert status == 404
        assert int(headers["content-length"]) == len(body)
    # DNS rebinding: an attacker's name that resolves to 127.0.0.1.
    assert http_get(url(server, "/callback", code="c"), host=f"evil.test:{server.server_port}")[0] == 404
    assert not server.finished
    http_get(url(server, "/callback", code="c", state="s"))
    done.result(timeout=10)
    assert items.qsize() == 1


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE", "POST", "HEAD"])
def test_server_answers_other_methods_with_the_same_complete_404(serve, method):
    server, _, done = serve()
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(
            f"{method} /callback?code=c HTTP/1.1\r\nHost: 127.0.0.1:{server.server_port}\r\n\r\n".encode()
        )
        head = b"".join(iter(lambda: sock.recv(65536), b"")).partition(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.0 404")
    assert "Content-Security-Policy: default-src 'none'" in head
    assert not server.finished
    http_get(url(server, "/callback", code="c", state="s"))
    done.result(timeout=10)


def test_server_answers_a_malformed_request_with_security_headers_and_keeps_serving(serve):
    server, items, done = serve()
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(b"NOT AN HTTP REQUEST AT ALL\r\n\r\n")
        head = b"".join(iter(lambda: sock.recv(65536), b"")).partition(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.0 400")
    assert "Referrer-Policy: no-referrer" in head
    http_get(url(server, "/callback", code="c", state="s"))
    done.result(timeout=10)
    assert items.get_nowait() == AuthorizationCode("c", "s")


def test_server_deadline_ends_with_an_error_and_frees_the_port(serve):
    server, items, done = serve(timeout=0.2)
    with pytest.raises(LoginTimeoutError):
        done.result(timeout=10)
    assert isinstance(items.get_nowait(), LoginTimeoutError)
    assert_port_free(server.server_port)


def test_server_refuses_non_loopback_hosts():
    for host in ("0.0.0.0", "", "example.com", "192.168.1.10", "::"):  # noqa: S104 - refused, never bound
        with pytest.raises(ConfigurationError) as caught:
            OAuthHTTPServer((host, 0), EndpointMetadata("x"), OAuthCallbackHandler)
        assert "127.0.0.1" in caught.value.hint


def test_server_handle_authorization_code_called_directly_queues_it_as_flytekit_does():
    items: queue.Queue[Any] = queue.Queue()
    server = OAuthHTTPServer(
        ("localhost", 0), EndpointMetadata("example.com"), http.server.BaseHTTPRequestHandler, queue=items
    )
    server.handle_authorization_code("auth_code")
    assert items.get_nowait() == "auth_code"
    assert_port_free(server.server_port)  # closed, like flytekit's


def test_server_writes_no_access_log(serve, capfd):
    server, _, done = serve()
    http_get(url(server, "/nothing"))
    http_get(url(server, "/callback", code="the-code", state="the-state"))
    done.result(timeout=10)
    out, err = capfd.readouterr()
    assert "the-code" not in out + err
    assert "GET" not in err


# --- B9: state checks on the facade's server; both servers bind alike --------------------------------------
@pytest.fixture
def serve_expecting() -> Iterator[Callable[..., tuple[OAuthHTTPServer, queue.Queue[Any], Future[None]]]]:
    pool = ThreadPoolExecutor(1)

    def start(state: str) -> tuple[OAuthHTTPServer, queue.Queue[Any], Future[None]]:
        server = OAuthHTTPServer(
            ("127.0.0.1", 0),
            EndpointMetadata("flyte.test"),
            OAuthCallbackHandler,
            redirect_path="/callback",
            expected_state=state,
        )
        items: queue.Queue[Any] = queue.Queue()
        return server, items, pool.submit(server.handle_request, items, timeout=30)

    yield start
    pool.shutdown(wait=True)


def test_server_with_an_expected_state_ignores_error_redirects_with_another_state(serve_expecting, caplog):
    server, items, done = serve_expecting("s-1")
    with caplog.at_level(logging.INFO, logger="oauth_login"):
        for forged in ({"error": "access_denied", "state": "wrong"}, {"error": "access_denied"}):
            status, _, body = http_get(url(server, "/callback", **forged))
            assert status == 400
            assert b"access_denied" not in body
    assert not server.finished  # a page that knows our port cannot end the sign-in
    assert items.empty()
    assert "ignored" in caplog.text
    http_get(url(server, "/callback", error="access_denied", state="s-1"))
    with pytest.raises(AccessDeniedError):
        done.result(timeout=10)


def test_server_with_an_expected_state_ignores_codes_with_another_state(serve_expecting):
    server, items, done = serve_expecting("s-1")
    assert http_get(url(server, "/callback", code="forged", state="wrong"))[0] == 400
    assert not server.finished
    assert http_get(url(server, "/callback", code="c-1", state="s-1"))[0] == 200
    done.result(timeout=10)
    assert items.get_nowait() == AuthorizationCode("c-1", "s-1")


def test_server_without_an_expected_state_leaves_the_check_to_the_caller_as_flytekit_did(serve):
    server, items, done = serve()
    http_get(url(server, "/callback", code="c-1", state="whatever"))
    done.result(timeout=10)
    assert items.get_nowait() == AuthorizationCode("c-1", "whatever")  # the caller compares the state


def test_both_loopback_servers_ask_for_an_exclusive_port_where_the_platform_has_it(monkeypatch):
    # SO_EXCLUSIVEADDRUSE exists on Windows only; stand in an option Linux can read back.
    from oauth_login._loopback import LoopbackReceiver

    monkeypatch.setattr(socket, "SO_EXCLUSIVEADDRUSE", socket.SO_KEEPALIVE, raising=False)
    server = OAuthHTTPServer(("127.0.0.1", 0), EndpointMetadata("x"), OAuthCallbackHandler)
    try:
        assert server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    finally:
        server.server_close()
    with LoopbackReceiver(host="localhost") as receiver:
        sockets = [s.socket for s in receiver._servers]
        assert len(sockets) == 2
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) for s in sockets)


def test_both_loopback_servers_reuse_addresses_alike():
    from oauth_login._loopback import LoopbackHTTPServer

    assert issubclass(OAuthHTTPServer, LoopbackHTTPServer)
    assert (
        OAuthHTTPServer.allow_reuse_address
        == LoopbackHTTPServer.allow_reuse_address
        == (sys.platform != "win32")
    )
