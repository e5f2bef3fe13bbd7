"""The loopback receiver on real 127.0.0.1 sockets: routing, robustness, pages, headers, ports."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlencode

import pytest

from oauth_login import _pages
from oauth_login._errors import (
    AccessDeniedError,
    CallbackError,
    ConfigurationError,
    LoginCancelledError,
    LoginTimeoutError,
    OAuthError,
)
from oauth_login._loopback import LoopbackReceiver

ISSUER = "https://idp.test"
STATE = "STATE-SECRET-3f9a1c"
CODE = "CODE-SECRET-77b2e0"
AUTH_URL = f"{ISSUER}/authorize?client_id=notebook&state={STATE}"
SECURITY_HEADERS = {
    "Content-Security-Policy": _pages.SECURITY_HEADERS["Content-Security-Policy"],
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes


def request(receiver: LoopbackReceiver, path: str, *, method: str = "GET", host: str | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        if host is None:
            conn.request(method, path)
        else:
            conn.putrequest(method, path, skip_host=True)
            conn.putheader("Host", host)
            conn.endheaders()
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes, read until the server closes; returns (head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head, body


def header_of(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def callback_path(**params: str) -> str:
    return "/callback?" + urlencode(params)


def assert_security_headers(headers: Message) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert "default-src 'none'" in headers["Content-Security-Policy"]


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    with LoopbackReceiver() as r:
        yield r


@pytest.fixture
def armed(receiver: LoopbackReceiver) -> LoopbackReceiver:
    receiver.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
    return receiver


# --- addresses -------------------------------------------------------------------------------


def test_redirect_uri_uses_the_bound_port(receiver):
    assert receiver.port != 0
    assert receiver.redirect_uri == f"http://127.0.0.1:{receiver.port}/callback"
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10):
        pass  # it really listens there


def test_custom_path_and_localhost_name():
    with LoopbackReceiver(host="localhost", path="cb/") as r:
        assert r.redirect_uri == f"http://localhost:{r.port}/cb"
        r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        answer = request(r, "/cb?" + urlencode({"code": CODE, "state": STATE}), host=f"localhost:{r.port}")
        assert answer.status == 200
        assert r.wait(10) == CODE


NOT_LOOPBACK = ["0.0.0.0", "example.com", "192.168.1.10", "::", "10.0.0.1"]  # noqa: S104 - refused on purpose


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_non_loopback_hosts_are_refused(host):
    with pytest.raises(ConfigurationError, match="only listens on this computer"):
        LoopbackReceiver(host=host)


# --- the start URL ---------------------------------------------------------------------------


def test_start_url_redirects_once_to_the_authorization_url(receiver):
    start = receiver.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
    assert start == receiver.start_url
    assert start.startswith(f"http://127.0.0.1:{receiver.port}/start/")
    path = start.split(str(receiver.port), 1)[1]
    first = request(receiver, path)
    assert first.status == 302
    assert first.headers["Location"] == AUTH_URL
    assert_security_headers(first.headers)
    second = request(receiver, path)
    assert second.status == 410  # a used link opened again ends the attempt (issue 7, B7)
    assert second.headers.get("Location") is None
    with pytest.raises(CallbackError, match="opened twice"):
        receiver.wait(5)


def test_unknown_start_id_and_start_before_expect_are_404(receiver):
    assert request(receiver, "/start/guess").status == 404
    receiver.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
    assert request(receiver, "/start/guess").status == 404
    assert request(receiver, "/start/").status == 404


def test_every_attempt_gets_a_new_start_id(receiver):
    first = receiver.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
    second = receiver.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
    assert first != second
    assert request(receiver, first.split(str(receiver.port), 1)[1]).status == 404


# --- unrelated requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /favicon.ico HTTP/1.1\r\nHost: {host}\r\n\r\n",
        b"GET /robots.txt HTTP/1.1\r\nHost: {host}\r\n\r\n",
        b"GET /callbackx?code=x&state=y HTTP/1.1\r\nHost: {host}\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: {host}\r\n\r\n",
        b"GET /%00%ff HTTP/1.1\r\nHost: {host}\r\n\r\n",
        b"POST /callback HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
    ],
)
def test_unrelated_requests_get_a_complete_404_and_the_flow_still_completes(armed, raw):
    head, body = raw_exchange(armed.port, raw.replace(b"{host}", f"127.0.0.1:{armed.port}".encode()))
    assert head.startswith(b"HTTP/1.0 404 ")
    assert int(header_of(head, "Content-Length") or -1) == len(body) > 0
    assert body == _pages.NOT_FOUND
    assert header_of(head, "Referrer-Policy") == "no-referrer"
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE


def test_head_gets_a_complete_404_without_a_body(armed):
    head, body = raw_exchange(
        armed.port, f"HEAD /callback HTTP/1.1\r\nHost: 127.0.0.1:{armed.port}\r\n\r\n".encode()
    )
    assert head.startswith(b"HTTP/1.0 404 ")
    assert body == b""
    assert int(header_of(head, "Content-Length") or -1) == len(_pages.NOT_FOUND)
    assert header_of(head, "Cache-Control") == "no-store"
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE


def test_post_with_the_real_callback_query_does_not_complete_the_flow(armed):
    answer = request(armed, callback_path(code=CODE, state=STATE), method="POST")
    assert answer.status == 404
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE"])
def test_other_methods_get_the_same_404_with_security_headers(armed, method):
    # A page can make the browser send these (a CORS preflight is an OPTIONS): same complete 404.
    answer = request(armed, "/callback", method=method)
    assert answer.status == 404
    assert_security_headers(answer.headers)
    assert int(answer.headers["Content-Length"]) == len(answer.body)


# Exactly 65537 bytes without a line end: the server reads all of it (so closing cannot reset the
# connection before we read the answer) and refuses it as too long.
TOO_LONG_REQUEST_LINE = b"GET /" + b"a" * (65537 - 5)
TOO_LONG_HEADER = b"GET /callback HTTP/1.1\r\n" + b"X-Junk: " + b"a" * (65537 - 8)


@pytest.mark.parametrize("raw", [TOO_LONG_REQUEST_LINE, TOO_LONG_HEADER], ids=["request-line", "header"])
def test_oversized_requests_get_a_complete_answer_with_security_headers(armed, raw, capfd):
    head, body = raw_exchange(armed.port, raw)
    assert head.startswith(b"HTTP/1.0 4")
    assert int(header_of(head, "Content-Length") or -1) == len(body)
    assert header_of(head, "Content-Security-Policy") == SECURITY_HEADERS["Content-Security-Policy"]
    assert header_of(head, "Referrer-Policy") == "no-referrer"
    assert header_of(head, "Cache-Control") == "no-store"
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE
    assert capfd.readouterr().err == ""


def test_bytes_that_are_not_http_do_not_disturb_the_flow_or_the_console(armed, capfd):
    head, _ = raw_exchange(armed.port, b"NOT AN HTTP REQUEST AT ALL\r\n\r\n")
    # Python's http.server takes this for HTTP/0.9 and would answer without status line or headers.
    assert head.startswith(b"HTTP/1.0 4")
    assert header_of(head, "Referrer-Policy") == "no-referrer"
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE
    assert capfd.readouterr().err == ""  # no handler traceback on the kernel's or terminal's stderr


def test_idle_preconnected_sockets_do_not_stall_a_real_callback(armed):
    # Browsers open speculative connections and send nothing on them.
    idle = socket.create_connection(("127.0.0.1", armed.port), timeout=10)
    partial = socket.create_connection(("127.0.0.1", armed.port), timeout=10)
    try:
        partial.sendall(b"GET /callback?co")  # a request that never finishes
        answer = request(armed, callback_path(code=CODE, state=STATE))
        assert answer.status == 200
        assert answer.body == _pages.SIGNED_IN
        assert armed.wait(10) == CODE
    finally:
        idle.close()
        partial.close()


def test_wrong_host_header_is_404_and_does_not_consume_the_callback(armed):
    evil = request(armed, callback_path(code=CODE, state=STATE), host=f"evil.example:{armed.port}")
    assert evil.status == 404
    assert_security_headers(evil.headers)
    assert request(armed, callback_path(code=CODE, state=STATE), host="127.0.0.1").status == 404  # no port
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE


# --- callbacks -------------------------------------------------------------------------------


def test_valid_callback_shows_the_success_page_and_wait_returns_the_code(armed):
    answer = request(armed, callback_path(code=CODE, state=STATE))
    assert answer.status == 200
    assert answer.body == _pages.SIGNED_IN
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    assert_security_headers(answer.headers)
    assert armed.wait(10) == CODE


def test_wrong_state_gets_the_stale_page_and_the_flow_continues(armed):
    stale = request(armed, callback_path(code="OTHER", state="not-ours"))
    assert stale.status == 400
    assert stale.body == _pages.STALE
    assert_security_headers(stale.headers)
    missing = request(armed, callback_path(code="OTHER"))
    assert missing.status == 400
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE


def test_forged_error_without_our_state_does_not_end_the_flow(armed):
    forged = request(armed, callback_path(error="access_denied", state="forged"))
    assert forged.status == 400
    assert forged.body == _pages.STALE
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    assert armed.wait(10) == CODE


def test_replaying_the_successful_callback_gets_400(armed):
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 200
    replay = request(armed, callback_path(code=CODE, state=STATE))
    assert replay.status == 400
    assert replay.body == _pages.STALE
    assert armed.wait(10) == CODE


def test_callback_before_expect_is_stale(receiver):
    assert request(receiver, callback_path(code=CODE, state=STATE)).status == 400


def test_error_callback_ends_wait_with_the_typed_error_and_escapes_the_page(armed):
    payload = "<script>alert(1)</script>"
    answer = request(
        armed,
        callback_path(error="access_denied", error_description=payload, state=STATE),
    )
    assert answer.status == 400
    assert_security_headers(answer.headers)
    page = answer.body.decode("utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    with pytest.raises(AccessDeniedError) as info:
        armed.wait(10)
    assert info.value.error_description == payload
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 400  # over


def test_the_error_code_itself_is_escaped_too(armed):
    answer = request(armed, callback_path(error='"><img src=x onerror=alert(1)>', state=STATE))
    assert answer.status == 400
    assert b"<img" not in answer.body
    with pytest.raises(OAuthError):
        armed.wait(10)


def test_iss_mismatch_ends_the_flow_with_a_callback_error(receiver):
    receiver.expect(state=STATE, issuer=ISSUER, iss_required=True, authorization_url=AUTH_URL)
    answer = request(receiver, callback_path(code=CODE, state=STATE, iss="https://evil.example"))
    assert answer.status == 400
    with pytest.raises(CallbackError, match="iss"):
        receiver.wait(10)


def test_custom_success_and_failure_pages_are_served():
    with LoopbackReceiver(success_html=b"<p>yay</p>", failure_html=b"<p>nay</p>") as r:
        r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        ok = request(r, callback_path(code=CODE, state=STATE))
        assert (ok.status, ok.body) == (200, b"<p>yay</p>")
        assert_security_headers(ok.headers)
        assert r.wait(10) == CODE
    with LoopbackReceiver(success_html=b"<p>yay</p>", failure_html=b"<p>nay</p>") as r:
        r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        bad = request(r, callback_path(error="access_denied", state=STATE))
        assert (bad.status, bad.body) == (400, b"<p>nay</p>")
        with pytest.raises(AccessDeniedError):
            r.wait(10)


# --- ending the wait -------------------------------------------------------------------------


def test_wait_times_out_and_close_frees_the_port():
    r = LoopbackReceiver()
    port = r.port
    r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
    with pytest.raises(LoginTimeoutError):
        r.wait(0.01)
    r.close()
    r.close()  # idempotent
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_a_fixed_port_can_be_reused_right_after_a_completed_sign_in():
    # A registered redirect URI such as http://127.0.0.1:8765/callback has a fixed port: signing in
    # twice in a row must work, although the first sign-in's connections sit in TIME_WAIT.
    first = LoopbackReceiver()
    port = first.port
    with first:
        first.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        # Read until the server closes, as a browser does: the server's side then waits in TIME_WAIT.
        line = f"GET {callback_path(code=CODE, state=STATE)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        head, _ = raw_exchange(port, line.encode())
        assert head.startswith(b"HTTP/1.0 200 ")
        assert first.wait(10) == CODE
    with LoopbackReceiver(port=port) as second:
        assert second.port == port


def test_cancel_ends_wait_with_login_cancelled(armed):
    waiting = threading.Event()

    def wait_for_code() -> str:
        waiting.set()
        return armed.wait(60)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(wait_for_code)
        assert waiting.wait(10)
        armed.cancel()
        with pytest.raises(LoginCancelledError):
            future.result(timeout=10)
    assert request(armed, callback_path(code=CODE, state=STATE)).status == 400  # nothing is accepted after


def test_close_from_another_thread_ends_wait(armed):
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(armed.wait, 60)
        armed.close()
        with pytest.raises(LoginCancelledError):
            future.result(timeout=10)
    with pytest.raises(OSError):  # noqa: PT011 - refused, whatever the platform calls it
        socket.create_connection(("127.0.0.1", armed.port), timeout=10).close()


# --- secrets stay out of logs and stderr -----------------------------------------------------


def test_nothing_secret_reaches_logs_or_the_console(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    with LoopbackReceiver() as r:
        start = r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        request(r, start.split(str(r.port), 1)[1])
        request(r, "/favicon.ico")
        request(r, callback_path(code="CODE-SECRET-wrong", state="STATE-SECRET-wrong"))
        request(r, callback_path(code=CODE, state=STATE), method="POST")
        request(r, callback_path(code=CODE, state=STATE))
        request(r, callback_path(code=CODE, state=STATE))  # replay
        assert r.wait(10) == CODE
        text = repr(r)
    out, err = capfd.readouterr()
    assert caplog.records  # the receiver does log (paths only)
    for where in (caplog.text, out, err, text):
        assert "SECRET" not in where
    assert "/callback" in caplog.text


# --- B2: a localhost redirect URI listens on 127.0.0.1 and ::1, and the start link names 127.0.0.1 --------
def get_via(address: str, port: int, path: str, host: str) -> Answer:
    """One GET to ``address`` (an IPv4 or IPv6 literal) with the given Host header."""
    conn = http.client.HTTPConnection(address, port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def squat_ipv6(port: int = 0) -> socket.socket:
    """Another program listening on [::1]:port, as another local user could."""
    squatter = socket.socket(socket.AF_INET6)
    try:
        squatter.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        squatter.bind(("::1", port))
        squatter.listen()
    except OSError:
        squatter.close()
        raise
    return squatter


def test_a_localhost_receiver_listens_on_both_loopback_addresses_and_links_to_127_0_0_1():
    with LoopbackReceiver(host="localhost") as r:
        assert r.redirect_uri == f"http://localhost:{r.port}/callback"  # as registered at the provider
        start = r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        assert start.startswith(f"http://127.0.0.1:{r.port}/start/")  # never a name ::1 could answer
        assert r.start_url == start
        with pytest.raises(OSError, match="in use"):
            squat_ipv6(r.port).close()  # [::1]:port is ours: nobody else can take it now
        path = start.removeprefix(f"http://127.0.0.1:{r.port}")
        assert get_via("127.0.0.1", r.port, path, f"127.0.0.1:{r.port}").status == 302
        # The browser tries ::1 first for "localhost": the redirect arrives there, and is ours.
        callback = "/callback?" + urlencode({"code": CODE, "state": STATE})
        assert get_via("::1", r.port, callback, f"localhost:{r.port}").status == 200
        assert r.wait(10) == CODE


def test_the_next_start_link_names_127_0_0_1_too():
    with LoopbackReceiver(host="localhost") as r:
        opened: list[str] = []
        r.on_open = opened.append
        start = r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        get_via("127.0.0.1", r.port, start.removeprefix(f"http://127.0.0.1:{r.port}"), f"127.0.0.1:{r.port}")
        assert opened and opened[0].startswith(f"http://127.0.0.1:{r.port}/start/")


def test_a_fixed_localhost_port_taken_on_ipv6_fails_clearly_and_holds_nothing():
    squatter = squat_ipv6()
    port = squatter.getsockname()[1]
    try:
        with pytest.raises(ConfigurationError) as caught:
            LoopbackReceiver(host="localhost", port=port)
    finally:
        squatter.close()
    assert f"[::1]:{port}" in caught.value.message
    assert "127.0.0.1" in caught.value.hint
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the IPv4 half was not left listening


def test_an_ephemeral_localhost_port_taken_on_ipv6_is_skipped(monkeypatch):
    # The port the IPv4 bind picks is already held on ::1 by someone else: pick another, never share.
    import oauth_login._loopback as loopback

    squatter = squat_ipv6()
    taken = squatter.getsockname()[1]
    real_server = loopback._Server
    first = [True]

    class FirstOnTheTakenPort(real_server):  # type: ignore[misc, valid-type]
        def __init__(self, address, handler):
            if address[0] == "127.0.0.1" and first[0]:
                first[0] = False
                address = ("127.0.0.1", taken)
            super().__init__(address, handler)

    monkeypatch.setattr(loopback, "_Server", FirstOnTheTakenPort)
    try:
        with LoopbackReceiver(host="localhost") as r:
            assert r.port != taken
            with pytest.raises(OSError, match="in use"):
                squat_ipv6(r.port).close()
    finally:
        squatter.close()
    assert not first[0]


def test_without_ipv6_loopback_a_localhost_receiver_uses_127_0_0_1_alone(monkeypatch, caplog):
    # Where ::1 does not exist nobody can listen there, and browsers fall back to 127.0.0.1.
    import oauth_login._loopback as loopback

    monkeypatch.setattr(loopback, "_IPV6_LOOPBACK", "2001:db8::1")  # an address this host lacks
    with caplog.at_level(logging.DEBUG, logger="oauth_login"), LoopbackReceiver(host="localhost") as r:
        start = r.expect(state=STATE, issuer=ISSUER, iss_required=False, authorization_url=AUTH_URL)
        assert start.startswith(f"http://127.0.0.1:{r.port}/start/")
        callback = "/callback?" + urlencode({"code": CODE, "state": STATE})
        assert get_via("127.0.0.1", r.port, callback, f"localhost:{r.port}").status == 200
        assert r.wait(10) == CODE
    assert "no IPv6 loopback" in caplog.text


def test_an_ip_literal_redirect_uri_listens_on_that_address_only():
    with LoopbackReceiver(host="127.0.0.1") as r:
        squat_ipv6(r.port).close()  # ::1 is not involved: 127.0.0.1 URIs never resolve there
        assert r.redirect_uri.startswith("http://127.0.0.1:")
