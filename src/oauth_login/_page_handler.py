"""The handler both loopback servers build on: whole pages with our security headers, no access log."""

from __future__ import annotations

import http.server
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from . import _pages

__all__ = ["PageHandler"]

logger = logging.getLogger("oauth_login")


class PageHandler(http.server.BaseHTTPRequestHandler):
    """Every answer is a whole HTML page with ``_pages.SECURITY_HEADERS``; subclasses write ``do_GET``."""

    server_version = "oauth-login"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after the answer
    timeout = 10.0  # an idle pre-connected browser socket is dropped after this, without touching the flow
    log_name = "loopback receiver"

    def do_HEAD(self) -> None:
        self.send_page(404, _pages.NOT_FOUND)

    def do_POST(self) -> None:
        self.send_page(404, _pages.NOT_FOUND)

    def send_page(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        if self.request_version == "HTTP/0.9":
            # Set for a malformed request line; it would drop the status line and the security headers.
            self.request_version = self.protocol_version
        try:
            self.send_response(status)
            for name, value in {**_pages.SECURITY_HEADERS, **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)
        except OSError as exc:  # the browser went away; the sign-in itself is not affected
            logger.debug("%s: could not answer the browser (%s)", self.log_name, type(exc).__name__)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib's own error page (OPTIONS/PUT/…, a malformed request line) has none of our headers;
        # an unknown method gets the same 404 as every other address that is not the redirect.
        self.close_connection = True
        if code == 501:
            self.send_page(404, _pages.NOT_FOUND)
        else:
            self.send_page(code, _pages.BAD_REQUEST)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The request line holds the code and state: log the path only (none before it was parsed).
        path = urlsplit(getattr(self, "path", "")).path[:64]
        logger.debug("%s: %s %s -> %s", self.log_name, getattr(self, "command", None), path, code)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stdlib access log would print query strings to stderr
