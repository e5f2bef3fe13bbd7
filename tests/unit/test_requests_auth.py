"""``BearerAuth`` against a real 127.0.0.1 API server: header, refresh ahead, one retry on 401."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests

from oauth_login._client import OAuthClient
from oauth_login._credentials import Credentials
from oauth_login._discovery import clear_cache
from oauth_login._profiles import Profile
from oauth_login._requests_auth import BearerAuth
from oauth_login._stores import MemoryStore
from tests.fake_provider import ISSUER, FakeProvider
from tests.local_servers import Seen, self_signed_cert, serve

STALE = "at-stale"


class API:
    """What the test API server saw: (method, Authorization header, body) per request."""

    def __init__(self, accept: Callable[[str], bool]) -> None:
        self.accept = accept
        self.seen: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        self.url = ""


@contextmanager
def api_server(accept: Callable[[str], bool]) -> Iterator[API]:
    api = API(accept)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            with api.lock:
                api.seen.append((self.command, self.headers.get("Authorization") or "", body))
            status = 200 if api.accept(token) else 401
            payload = b"ok" if status == 200 else b"unauthorized"
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}/data"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def provider(oauth_env) -> Iterator[FakeProvider]:
    clear_cache()
    yield FakeProvider()
    clear_cache()


@pytest.fixture
def client(provider: FakeProvider) -> OAuthClient:
    return OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=MemoryStore(), request=provider)


def sign_in(client: OAuthClient, provider: FakeProvider, *, expires_in: float = 3600) -> None:
    creds = Credentials(STALE, provider.new_refresh_token(), ISSUER, expires_in=expires_in)
    with client.store.lock(client.key):
        client._save(creds)


@pytest.fixture
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        yield s


def test_the_bearer_token_is_sent(client, provider, http_session):
    sign_in(client, provider)
    with api_server(lambda token: token == STALE) as api:
        response = http_session.get(api.url, auth=BearerAuth(client), timeout=10)
    assert response.status_code == 200
    assert [auth for _, auth, _ in api.seen] == [f"Bearer {STALE}"]
    assert provider.requests["/token:refresh_token"] == 0


def test_a_token_near_expiry_is_refreshed_before_the_request(client, provider, http_session):
    sign_in(client, provider, expires_in=-5)
    with api_server(lambda token: token != STALE) as api:
        response = http_session.get(api.url, auth=BearerAuth(client), timeout=10)
    assert response.status_code == 200
    assert len(api.seen) == 1
    assert api.seen[0][1] != f"Bearer {STALE}"
    assert provider.requests["/token:refresh_token"] == 1


def test_401_refreshes_and_retries_exactly_once(client, provider, http_session):
    sign_in(client, provider)
    with api_server(lambda token: token != STALE) as api:
        response = http_session.get(api.url, auth=BearerAuth(client), timeout=10)
    assert response.status_code == 200
    assert response.content == b"ok"
    assert len(api.seen) == 2
    first, second = (auth for _, auth, _ in api.seen)
    assert first == f"Bearer {STALE}"
    assert second == f"Bearer {client.get_token()}" != first
    assert provider.requests["/token:refresh_token"] == 1
    assert [r.status_code for r in response.history] == [401]


def test_a_second_401_is_returned_without_a_third_request(client, provider, http_session):
    sign_in(client, provider)
    with api_server(lambda token: False) as api:
        response = http_session.get(api.url, auth=BearerAuth(client), timeout=10)
    assert response.status_code == 401
    assert len(api.seen) == 2
    assert provider.requests["/token:refresh_token"] == 1


def test_a_failed_refresh_returns_the_401_without_a_retry(client, provider, http_session):
    sign_in(client, provider)
    provider.valid_refresh.clear()  # the refresh answers invalid_grant
    with api_server(lambda token: False) as api:
        response = http_session.get(api.url, auth=BearerAuth(client), timeout=10)
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert client.status().state == "error"


def test_a_post_with_a_file_body_is_resent_whole(client, provider, http_session):
    sign_in(client, provider)
    payload = b"0123456789" * 1000
    body = io.BytesIO(payload)
    with api_server(lambda token: token != STALE) as api:
        response = http_session.post(api.url, data=body, auth=BearerAuth(client), timeout=10)
    assert response.status_code == 200
    assert [(method, sent) for method, _, sent in api.seen] == [("POST", payload), ("POST", payload)]


def test_a_file_body_that_starts_midway_is_resent_from_where_it_started(client, provider, http_session):
    sign_in(client, provider)
    body = io.BytesIO(b"HEADER|the-real-body")
    body.read(7)  # the caller already consumed a prefix: only the rest is the request body
    with api_server(lambda token: token != STALE) as api:
        http_session.post(api.url, data=body, auth=BearerAuth(client), timeout=10)
    assert [sent for _, _, sent in api.seen] == [b"the-real-body", b"the-real-body"]


def test_a_plain_byte_body_is_resent_too(client, provider, http_session):
    sign_in(client, provider)
    with api_server(lambda token: token != STALE) as api:
        http_session.post(api.url, data=b"a=1&b=2", auth=BearerAuth(client), timeout=10)
    assert [sent for _, _, sent in api.seen] == [b"a=1&b=2", b"a=1&b=2"]


@pytest.mark.parametrize("status", [400, 403, 404, 407, 500, 503])
def test_other_errors_are_not_retried(client, provider, http_session, status):
    sign_in(client, provider)
    with serve(lambda seen: (status, {"WWW-Authenticate": "Bearer"}, b"no")) as api:
        response = http_session.get(f"{api.base_url}/data", auth=BearerAuth(client), timeout=10)
    assert response.status_code == status
    assert api.authorizations == [f"Bearer {STALE}"]
    assert provider.requests["/token:refresh_token"] == 0


@pytest.mark.timeout(60)
def test_concurrent_401s_force_exactly_one_refresh(client, provider, http_session):
    callers = 4
    everyone_rejected = threading.Barrier(callers, timeout=20)  # a broken barrier fails the test fast

    def answer(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.authorization == f"Bearer {STALE}":
            everyone_rejected.wait()  # every caller holds a 401 for the same token before any refresh
            return unauthorized(seen)
        return 200, {}, b"ok"

    sign_in(client, provider)
    auth = BearerAuth(client)
    with serve(answer) as api, ThreadPoolExecutor(callers) as pool:
        sessions = [requests.Session() for _ in range(callers)]
        for s in sessions:
            s.trust_env = False
        futures = [pool.submit(s.get, f"{api.base_url}/data", auth=auth, timeout=30) for s in sessions]
        statuses = [f.result(timeout=40).status_code for f in futures]
        for s in sessions:
            s.close()
    assert statuses == [200] * callers
    assert provider.requests["/token:refresh_token"] == 1
    retried = [a for a in api.authorizations if a != f"Bearer {STALE}"]
    assert retried == [f"Bearer {client.get_token()}"] * callers


def test_repr_and_equality(client):
    auth = BearerAuth(client)
    assert repr(auth) == "BearerAuth(profile='default')"
    assert auth == BearerAuth(client)
    assert STALE not in repr(auth)


# --- B1: the token never follows a redirect to another host or scheme ------------------------------------
def unauthorized(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b"unauthorized"


def redirect_to(target: str) -> Callable[[Seen], tuple[int, dict[str, str], bytes]]:
    return lambda seen: (302, {"Location": target}, b"")


def test_a_401_after_a_redirect_to_another_host_never_gets_the_token(client, provider, http_session):
    sign_in(client, provider)
    with serve(unauthorized, address="127.0.0.2") as other, serve(redirect_to(f"{other.base_url}/x")) as api:
        response = http_session.get(f"{api.base_url}/data", auth=BearerAuth(client), timeout=10)
    assert response.status_code == 401  # the other host's answer reaches the caller as it is
    assert api.authorizations == [f"Bearer {STALE}"]
    assert other.authorizations == [""]  # requests stripped it; no retry put it back
    assert provider.requests["/token:refresh_token"] == 0  # its 401 says nothing about our token


def test_a_401_after_a_redirect_from_https_to_http_never_gets_the_token(
    client, provider, http_session, tmp_path
):
    sign_in(client, provider)
    cert = self_signed_cert(tmp_path)
    http_session.verify = str(cert.cert)
    with serve(unauthorized) as plain, serve(redirect_to(f"{plain.base_url}/x"), tls=cert) as api:
        assert api.base_url.startswith("https://127.0.0.1:")
        response = http_session.get(f"{api.base_url}/data", auth=BearerAuth(client), timeout=10)
    assert response.status_code == 401
    assert api.authorizations == [f"Bearer {STALE}"]
    assert plain.authorizations == [""]  # same host, but in clear: never the token
    assert provider.requests["/token:refresh_token"] == 0


def test_a_401_after_a_redirect_on_the_same_host_is_not_retried(client, provider, http_session):
    # Only the request this auth signed is retried: after any redirect the 401 is the caller's to see.
    sign_in(client, provider)

    def answer(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return redirect_to("/moved")(seen) if seen.path == "/data" else unauthorized(seen)

    with serve(answer) as api:
        response = http_session.get(f"{api.base_url}/data", auth=BearerAuth(client), timeout=10)
    assert response.status_code == 401
    assert api.authorizations == [f"Bearer {STALE}", f"Bearer {STALE}"]  # requests keeps it on one host
    assert provider.requests["/token:refresh_token"] == 0
