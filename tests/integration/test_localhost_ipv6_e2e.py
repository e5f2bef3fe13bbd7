"""A ``localhost`` redirect URI against the real provider and Chromium: nobody can take the port on ::1.

Chromium tries ::1 first for ``localhost``. If the receiver held the port on 127.0.0.1 alone, another
local user listening on [::1]:<port> would get the redirect, code included.
"""

from __future__ import annotations

import socket
import threading
import webbrowser
from concurrent.futures import Future

import pytest

from devtools.browser import BrowserResult, BrowserThread, complete_login
from oauth_login.auth_client import AuthorizationClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Squatter:
    """Another local user's program: listens on [::1]:port if it can and records what arrives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listening = False
        self.received: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET6)
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.settimeout(0.2)
        self.thread: threading.Thread | None = None
        self.stop = threading.Event()

    def try_listen(self) -> None:
        try:
            self.sock.bind(("::1", self.port))
            self.sock.listen()
        except OSError:
            return
        self.listening = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.received.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(10)
        self.sock.close()


def test_a_localhost_sign_in_cannot_be_intercepted_on_ipv6(idp, browser: BrowserThread, monkeypatch):
    idp.reset()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    squatter = Squatter(port)
    futures: list[Future[BrowserResult]] = []
    opened: list[str] = []

    def open_new_tab(url: str) -> bool:
        opened.append(url)
        squatter.try_listen()  # the receiver is up: the other user tries to take the port on ::1
        # Fail at once rather than wait out the timeout while Chromium hands the code to the squatter.
        assert not squatter.listening, f"another program could listen on [::1]:{port} during the sign-in"
        futures.append(
            browser.submit(complete_login, url, expect_url_prefix=f"http://localhost:{port}/callback")
        )
        return True

    monkeypatch.setattr(webbrowser, "open_new_tab", open_new_tab)
    client = AuthorizationClient(
        "api.test",
        auth_endpoint=idp.discovery["authorization_endpoint"],
        token_endpoint=idp.discovery["token_endpoint"],
        client_id="notebook",
        redirect_uri=f"http://localhost:{port}/callback",
        scopes=["openid"],
        timeout=30,
    )
    try:
        creds = client.get_creds_from_remote()
        futures[0].result(timeout=60)
    finally:
        squatter.close()
    assert not squatter.listening, "another program could listen on [::1] while the sign-in waited"
    assert squatter.received == []
    assert creds.access_token
    assert opened[0].startswith(f"http://127.0.0.1:{port}/start/")
