"""The loopback receiver (RFC 8252 7.3): a tiny HTTP server on 127.0.0.1 that catches the redirect.

It *has* a server rather than being one, serves from its own daemon threads (so a busy caller, an
idle pre-connected socket or a favicon request never stalls it), answers everything that is not
the expected callback with a complete 404, and always frees its port on close.
"""

from __future__ import annotations

import errno
import http.server
import ipaddress
import logging
import secrets
import selectors
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

from . import _pages
from ._callback import StateMismatchError, check_callback
from ._errors import (
    ConfigurationError,
    LoginCancelledError,
    LoginTimeoutError,
    OAuthError,
    OAuthLoginError,
    SignInLinkExpiredError,
)
from ._page_handler import PageHandler
from ._pkce import constant_time_equal
from ._relay import link_opened_twice
from ._urls import is_loopback_host

__all__ = ["LoopbackHTTPServer", "LoopbackReceiver", "bind_address", "is_loopback_host"]

logger = logging.getLogger("oauth_login")

_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}
_IPV6_LOOPBACK = "::1"
_PORT_TRIES = 20  # ephemeral ports tried for a localhost URI when the IPv6 twin of one is taken
# bind() errors that mean this computer has no IPv6 loopback at all (not that ::1 is taken).
_NO_IPV6 = {
    code
    for code in (
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
        getattr(errno, "WSAEADDRNOTAVAIL", None),
        getattr(errno, "WSAEAFNOSUPPORT", None),
    )
    if code is not None
}


def bind_address(host: str) -> str:
    """The address to bind for ``host``; only loopback is allowed, whatever the configuration says."""
    address = _LOOPBACK_NAMES.get(host.lower(), host.strip("[]"))
    try:
        if ipaddress.ip_address(address).is_loopback:
            return address
    except ValueError:
        pass
    raise ConfigurationError(
        f"the loopback receiver only listens on this computer, not on {host!r}",
        hint="use 127.0.0.1 (or localhost, [::1]) in the redirect URI",
    )


class LoopbackHTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server on one loopback address, with the socket options every receiver needs.

    Both the core receiver and ``auth_client.OAuthHTTPServer`` build on it, so they bind alike.
    """

    daemon_threads = True  # an idle pre-connected browser socket must never keep the process alive
    # POSIX SO_REUSEADDR only lets us bind over our own TIME_WAIT leftovers (a fixed port reused right
    # after a login); it never allows a second listener. On Windows it would, so it stays off there.
    allow_reuse_address = sys.platform != "win32"

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        bind_and_activate: bool = True,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler, bind_and_activate)

    def server_bind(self) -> None:
        # Windows lets another program bind the same address and port over ours unless we ask for
        # SO_EXCLUSIVEADDRUSE (the attribute exists on Windows only).
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        # Not HTTPServer.server_bind: its getfqdn() can stall on a reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


class _Server(LoopbackHTTPServer):
    receiver: LoopbackReceiver

    def handle_request_nowait(self) -> None:
        """Accept one ready connection and hand it to a handler thread (the socket is readable)."""
        self._handle_request_noblock()  # type: ignore[attr-defined]


class _Handler(PageHandler):
    server: _Server

    def do_GET(self) -> None:
        status, body, headers = self.server.receiver._route(self.path, self.headers.get("Host", ""))
        self.send_page(status, body, headers)


class LoopbackReceiver:
    """Receive one authorization response on ``http://127.0.0.1:<port><path>``.

    Use as a context manager: ``expect()`` arms it for one attempt and returns the *start URL*
    (``/start/<random id>``, which redirects to the provider), ``wait()`` returns the code.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/callback",
        success_html: bytes | None = None,
        failure_html: bytes | None = None,
    ) -> None:
        self._bind = bind_address(host)
        localhost = host.lower() == "localhost"
        self._uri_host = f"[{self._bind}]" if ":" in self._bind else "localhost" if localhost else self._bind
        # The start link names an address, never "localhost": only we can be listening there.
        self._start_host = self._bind if localhost else self._uri_host
        self._path = "/" + path.strip("/")
        self._success_html = success_html
        self._failure_html = failure_html
        self._servers = self._listen_twice(port) if localhost else [self._listen(self._bind, port)]
        for server in self._servers:
            server.receiver = self
        self.port: int = self._servers[0].server_port
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._opened = threading.Event()  # the start URL was used: a browser is on its way
        self._activity = threading.Event()  # opened or done: what an idle wait waits for
        # Called with the next start URL each time one is used (from a server thread).
        self.on_open: Callable[[str], None] | None = None
        self._code: str | None = None
        self._error: OAuthLoginError | None = None
        self._check: Callable[[Mapping[str, str]], str] | None = None
        self._start_id: str | None = None
        self._spent_starts: set[str] = set()  # used start ids: one coming back cancels the attempt
        self._authorization_url: str | None = None
        self._closed = False
        # A socket pair wakes the serving loop at once on close(): socketserver's own shutdown()
        # polls, which would keep the port (and the caller) waiting up to a poll interval.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="oauth-login-loopback", daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(address: str, port: int) -> _Server:
        try:
            return _Server((address, port), _Handler)
        except OSError as exc:
            shown = f"[{address}]" if ":" in address else address
            raise ConfigurationError(
                f"cannot listen on {shown}:{port} for the sign-in redirect ({exc.strerror or exc})",
                hint="close the program using that port, or use a redirect URI without a fixed port",
            ) from exc

    def _listen_twice(self, port: int) -> list[_Server]:
        """For a ``localhost`` redirect URI: 127.0.0.1 *and* ::1, on the same port.

        Browsers try ::1 first for ``localhost``. Holding the port on 127.0.0.1 alone would let another
        local user listen on [::1]:port and receive the redirect, code included (RFC 8252 8.3). Where
        this computer has no IPv6 loopback, nobody can listen on ::1 and browsers fall back to
        127.0.0.1, so that alone is safe.
        """
        for _ in range(_PORT_TRIES):
            first = self._listen(self._bind, port)
            try:
                return [first, _Server((_IPV6_LOOPBACK, first.server_port), _Handler)]
            except OSError as exc:
                if exc.errno in _NO_IPV6 or not socket.has_ipv6:
                    logger.debug(
                        "loopback receiver: no IPv6 loopback on this computer; 127.0.0.1 alone is safe"
                    )
                    return [first]
                first.server_close()
                if port:
                    raise ConfigurationError(
                        f"cannot listen on [{_IPV6_LOOPBACK}]:{port} for the sign-in redirect "
                        f"({exc.strerror or exc}): a browser opening localhost would be sent there",
                        hint="close the program using that port, or register http://127.0.0.1:<port>/... "
                        "as the redirect URI and use it",
                    ) from exc
                # Someone holds this ephemeral port on ::1: never share it, take another.
        raise ConfigurationError(
            f"found no port free on both 127.0.0.1 and [{_IPV6_LOOPBACK}] in {_PORT_TRIES} tries",
            hint="use a redirect URI with 127.0.0.1 instead of localhost",
        )

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            for server in self._servers:
                selector.register(server, selectors.EVENT_READ, server)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_reader:
                        return
                    key.data.handle_request_nowait()

    @property
    def redirect_uri(self) -> str:
        return f"http://{self._uri_host}:{self.port}{self._path}"

    @property
    def start_url(self) -> str | None:
        return f"http://{self._start_host}:{self.port}/start/{self._start_id}" if self._start_id else None

    def expect(self, *, state: str, issuer: str | None, iss_required: bool, authorization_url: str) -> str:
        """Arm the receiver for one attempt; returns the single-use start URL to open in the browser."""
        with self._lock:
            self._check = lambda params: check_callback(
                params, expected_state=state, expected_issuer=issuer, iss_required=iss_required
            )
            self._authorization_url = authorization_url
            self._start_id = secrets.token_urlsafe(16)
        return f"http://{self._start_host}:{self.port}/start/{self._start_id}"

    def _host_ok(self, host_header: str) -> bool:
        # Refuse DNS-rebinding requests: the browser must address us by the loopback name we gave.
        return host_header in (f"{self._uri_host}:{self.port}", f"{self._bind}:{self.port}")

    def _route(self, raw_path: str, host_header: str) -> tuple[int, bytes, dict[str, str]]:
        url = urlsplit(raw_path)
        if not self._host_ok(host_header):
            return 404, _pages.NOT_FOUND, {}
        if url.path.startswith("/start/"):
            return self._start(url.path[len("/start/") :])
        if url.path != self._path:
            return 404, _pages.NOT_FOUND, {}
        return self._callback(dict(parse_qsl(url.query, keep_blank_values=True)))

    def _start(self, start_id: str) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            expected, target = self._start_id, self._authorization_url
            if expected is None or target is None or not constant_time_equal(expected, start_id):
                if start_id in self._spent_starts and not self._done.is_set():
                    # A used link came back, so someone else may hold it: whoever opened it first
                    # must not sign this process in.
                    self._error, self._check = link_opened_twice(), None
                    self._finish()
                    return 410, _pages.LINK_REUSED, {}
                return 404, _pages.NOT_FOUND, {}
            self._spent_starts.add(expected)
            # Each link works once. The next one is made at once, for the same attempt, so a user who
            # closed the pop-up can click Sign in again even while the kernel is busy in a cell.
            self._start_id = secrets.token_urlsafe(16)
            next_url = f"http://{self._start_host}:{self.port}/start/{self._start_id}"
            self._opened.set()
            self._activity.set()
        if self.on_open is not None:
            self.on_open(next_url)
        return 302, b"", {"Location": target}

    def _callback(self, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            check = self._check
            if check is None or self._done.is_set():
                return 400, _pages.STALE, {}
            try:
                code = check(params)
            except StateMismatchError:
                logger.info(
                    "loopback receiver: ignored a redirect that belongs to no current sign-in attempt"
                )
                return 400, _pages.STALE, {}
            except OAuthLoginError as exc:
                self._error = exc
                self._check = None
                self._finish()
                if self._failure_html is not None:
                    return 400, self._failure_html, {}
                if isinstance(exc, OAuthError):
                    return 400, _pages.failure(exc.error, exc.error_description), {}
                return 400, _pages.failure("invalid_response", exc.message), {}
            self._code = code
            self._check = None  # single use: a replay of this redirect gets the stale page
            self._finish()
        return 200, self._success_html or _pages.SIGNED_IN, {}

    def _finish(self) -> None:
        self._done.set()
        self._activity.set()

    @property
    def opened(self) -> bool:
        return self._opened.is_set()

    def wait(self, timeout: float, *, idle_timeout: float | None = None) -> str:
        """Block until the redirect arrives, ``cancel()`` is called or ``timeout`` seconds pass.

        With ``idle_timeout``, a link nobody opens expires after that long (``SignInLinkExpiredError``)
        and ``timeout`` counts from the moment the start URL is opened: a panel can keep a link ready
        without cutting short a user who clicks it late.
        """
        if idle_timeout is not None and not self._opened.is_set():
            self._activity.wait(idle_timeout)
            if not self._activity.is_set():
                raise SignInLinkExpiredError(f"nobody opened the sign-in link within {idle_timeout:g} s")
        if not self._done.wait(timeout):
            raise LoginTimeoutError(f"no answer from the browser within {timeout:g} s")
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._code is None:
                raise LoginCancelledError("the sign-in was cancelled")
            code, self._code = self._code, None
            return code

    def cancel(self) -> None:
        with self._lock:
            if not self._done.is_set():
                self._check = None
                self._finish()

    def close(self) -> None:
        """Stop serving and free the port. Safe to call more than once, from any thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.cancel()
        self._wake_writer.send(b"x")
        self._thread.join()
        for server in self._servers:
            server.server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LoopbackReceiver(redirect_uri={self.redirect_uri!r}, closed={self._closed})"
