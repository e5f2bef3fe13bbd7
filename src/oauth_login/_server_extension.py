"""The jupyter-server extension: receives the provider's redirect for kernels the browser cannot reach.

Routes, under the server's ``base_url``:

    GET    oauth-login/callback              the redirect URI; no login needed (a fresh browser, VS Code's
                                             system browser, an expired cookie), but only a ``state``
                                             registered by an authenticated kernel is accepted, once
    GET    oauth-login/start/<start id>      the single-use link the panel opens; redirects to the provider
    POST   oauth-login/api/attempts          a kernel registers an attempt (sha256 of its state, the
                                             authorization URL, the redirect URI if fixed)
    POST   oauth-login/api/attempts/<id>     a kernel long-polls for the redirect's parameters (a POST:
                                             it consumes the code, so it needs the "write" permission)
    DELETE oauth-login/api/attempts/<id>     a kernel cancels
    GET    oauth-login/api/info              what the kernel needs to know (and proof the extension is there)

The server never sees the ``state`` itself, only its SHA-256; it never sees the verifier or tokens.

Start ids are random and independent of the attempt id (which the kernel alone knows). Each works
once and the next is made at once, for a pop-up closed too early; a *used* start id presented again
means the link was copied somewhere, so the attempt is cancelled and the kernel told why. Start
paths never reach the server's access log (see ``_redact_start_links``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from . import __version__, _pages

__all__ = ["AttemptRegistry", "load_jupyter_server_extension", "setup_handlers"]

logger = logging.getLogger("oauth_login")

DEFAULT_TTL = 600.0
MAX_TTL = 3600.0
MAX_ATTEMPTS = 64  # per server: bounded memory, whatever kernels do
MAX_POLL = 30.0
CALLBACK_PATH = "oauth-login/callback"
AUTH_RESOURCE = "oauth-login"
START_LINK_REUSED = "start_link_reused"  # the long-poll's error when a used start link came back


@dataclass
class Attempt:
    id: str
    state_sha256: str
    authorization_url: str = field(repr=False)  # holds the state
    redirect_uri: str | None
    expires: float
    start_prefix: str = ""  # <base_url>oauth-login/start/
    opens: int = 0  # how many start links were used: the kernel asks for news beyond the count it knows
    redirect_used: str | None = None
    params: dict[str, str] | None = field(default=None, repr=False)  # holds the code
    failure: str | None = None  # why the attempt was cancelled by the server (START_LINK_REUSED)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Each start link works once; using one makes the next (for a closed pop-up, a busy kernel).
    # Random, never derived from ``id``: whoever sees a link cannot poll for the code with it.
    start_id: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    spent_starts: set[str] = field(default_factory=set, repr=False)

    @property
    def opened(self) -> bool:
        return self.opens > 0

    @property
    def settled(self) -> bool:
        """Nothing more can happen: the redirect came, or the server cancelled the attempt."""
        return self.params is not None or self.failure is not None

    def status(self) -> dict[str, Any]:
        if self.failure is not None:
            return {"status": "failed", "error": self.failure}
        if self.params is not None:
            # A fixed redirect URI holds even when the browser skipped the start link.
            return {
                "status": "done",
                "params": self.params,
                "redirect_uri": self.redirect_used or self.redirect_uri,
            }
        if self.opened:
            return {"status": "opened", "opens": self.opens, "start_path": self.start_prefix + self.start_id}
        return {"status": "pending"}


class AttemptRegistry:
    """The attempts of this server's kernels, in memory, each single use with a short lifetime."""

    def __init__(self) -> None:
        self._by_id: dict[str, Attempt] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for attempt_id in [a.id for a in self._by_id.values() if a.expires <= now]:
            gone = self._by_id.pop(attempt_id)
            gone.changed.set()

    def add(
        self,
        state_sha256: str,
        authorization_url: str,
        redirect_uri: str | None,
        ttl: float,
        start_prefix: str,
    ) -> Attempt:
        self._expire()
        if len(self._by_id) >= MAX_ATTEMPTS:
            raise web.HTTPError(429, "too many sign-in attempts are waiting on this server")
        attempt = Attempt(
            id=secrets.token_urlsafe(16),
            state_sha256=state_sha256,
            authorization_url=authorization_url,
            redirect_uri=redirect_uri,
            expires=time.monotonic() + ttl,
            start_prefix=start_prefix,
        )
        self._by_id[attempt.id] = attempt
        return attempt

    def get(self, attempt_id: str) -> Attempt | None:
        self._expire()
        return self._by_id.get(attempt_id)

    def by_start(self, start_id: str) -> tuple[Attempt | None, bool]:
        """The attempt this start link belongs to, and whether the link is one already used."""
        self._expire()
        for attempt in self._by_id.values():
            if secrets.compare_digest(attempt.start_id, start_id):
                return attempt, False
            if start_id in attempt.spent_starts:
                return attempt, True
        return None, False

    def by_state(self, state: str) -> Attempt | None:
        self._expire()
        digest = hashlib.sha256(state.encode("utf-8")).hexdigest()
        for attempt in self._by_id.values():
            if secrets.compare_digest(attempt.state_sha256, digest) and not attempt.settled:
                return attempt
        return None

    def remove(self, attempt_id: str) -> None:
        attempt = self._by_id.pop(attempt_id, None)
        if attempt is not None:
            attempt.changed.set()


def _same_host(scheme: str, reported: str, host_header: str) -> bool:
    """``reported`` (from the browser's origin) names the host the request came to: case and a
    default port (a proxy may add ``:443``) do not matter."""

    def canonical(netloc: str) -> str:
        netloc = netloc.lower()
        default = ":443" if scheme == "https" else ":80"
        return netloc[: -len(default)] if netloc.endswith(default) else netloc

    return canonical(reported) == canonical(host_header)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:  # "Invalid IPv6 URL" and the like: not a URL we redirect to
        return ""


# ``authorized`` takes the HTTP method's action (GET: "read") unless told otherwise.
_authorized_to_write: Callable[[Callable[..., None]], Callable[..., None]] = authorized(action="write")


def _registry(handler: JupyterHandler) -> AttemptRegistry:
    registry: AttemptRegistry = handler.settings["oauth_login_registry"]
    return registry


class _PageMixin(JupyterHandler):
    """Our own small pages with the security headers; never the server's templates."""

    def send_page(self, status: int, body: bytes) -> None:
        self.set_status(status)
        for name, value in _pages.SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(body)


class CallbackHandler(_PageMixin):
    """The redirect URI. Accepts only a registered, unexpired, unused ``state``; stores nothing else."""

    @allow_unauthenticated
    def get(self) -> None:
        params = {k: self.get_argument(k) for k in self.request.arguments}
        attempt = _registry(self).by_state(params.get("state", ""))
        if attempt is None:
            self.log.info("oauth-login: a redirect with an unknown or used state was refused")
            self.send_page(400, _pages.STALE)
            return
        keep = ("code", "state", "iss", "error", "error_description", "error_uri")
        attempt.params = {k: v for k, v in params.items() if k in keep}
        attempt.changed.set()
        if params.get("error"):
            self.send_page(400, _pages.failure(params["error"], params.get("error_description")))
        else:
            self.send_page(200, _pages.RECEIVED)

    def check_xsrf_cookie(self) -> None:
        return  # a cross-site top-level GET from the provider carries no XSRF token, by design


class StartHandler(_PageMixin):
    """The link the panel opens: picks a redirect URI the browser can reach, then sends it to the provider."""

    auth_resource = AUTH_RESOURCE

    # A GET, because the browser opens it, but it starts a sign-in into the user's kernel: it needs the
    # "write" permission (under JupyterHub, not a read-only share of the server).
    @web.authenticated
    @_authorized_to_write
    def get(self, start_id: str) -> None:
        attempt, spent = _registry(self).by_start(start_id)
        if attempt is None:
            self.send_page(404, _pages.STALE)
            return
        if spent and not attempt.settled:
            # A used link came back: someone else may hold it. Whoever opened it first must not get
            # a sign-in into this kernel, so the attempt ends here and the kernel says why.
            self.log.warning("oauth-login: a used sign-in link was opened again; the sign-in was cancelled")
            attempt.failure = START_LINK_REUSED
            attempt.changed.set()
            self.send_page(410, _pages.LINK_REUSED)
            return
        if attempt.settled:
            self.send_page(410, _pages.STALE)
            return
        redirect_uri = attempt.redirect_used or attempt.redirect_uri or self._public_redirect_uri()
        attempt.spent_starts.add(attempt.start_id)
        attempt.start_id = secrets.token_urlsafe(16)
        attempt.opens += 1
        attempt.redirect_used = redirect_uri
        attempt.changed.set()
        parts = urlsplit(attempt.authorization_url)
        query = f"{parts.query}&" if parts.query else ""
        target = urlunsplit(
            (parts.scheme, parts.netloc, parts.path, query + urlencode({"redirect_uri": redirect_uri}), "")
        )
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.redirect(target)

    def _public_origin(self) -> str:
        """The origin the browser uses for this server, as the panel reports it (checked against Host)."""
        reported = self.get_argument("origin", "")
        parts = urlsplit(reported)
        if (
            parts.scheme in ("http", "https")
            and _same_host(parts.scheme, parts.netloc, self.request.host)
            and not parts.path.strip("/")
        ):
            return f"{parts.scheme}://{parts.netloc}"
        configured = os.environ.get("OAUTH_LOGIN_PUBLIC_URL") or os.environ.get("JUPYTERHUB_PUBLIC_URL")
        if configured:
            configured_parts = urlsplit(configured)
            return f"{configured_parts.scheme}://{configured_parts.netloc}"
        return f"{self.request.protocol}://{self.request.host}"

    def _public_redirect_uri(self) -> str:
        origin = self._public_origin()
        hub_base = os.environ.get("JUPYTERHUB_BASE_URL")
        if os.environ.get("JUPYTERHUB_API_TOKEN") and hub_base is not None:
            # One redirect URI for the whole hub: the hub forwards a logged-in browser to its own server.
            return origin + url_path_join(hub_base, "hub/user-redirect", CALLBACK_PATH)
        return origin + url_path_join(self.base_url, CALLBACK_PATH)


class AttemptsHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def post(self) -> None:
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        digest = body.get("state_sha256")
        url = body.get("authorization_url")
        redirect_uri = body.get("redirect_uri")
        ttl = body.get("ttl", DEFAULT_TTL)
        if not (
            isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        ):
            raise web.HTTPError(400, "state_sha256 must be the hex SHA-256 of the state")
        if not (isinstance(url, str) and _scheme(url) in ("https", "http")):
            raise web.HTTPError(400, "authorization_url must be an http(s) URL")
        if redirect_uri is not None and not isinstance(redirect_uri, str):
            raise web.HTTPError(400, "redirect_uri must be a string or null")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_TTL:
            raise web.HTTPError(400, f"ttl must be between 0 and {MAX_TTL:g} seconds")
        start_prefix = url_path_join(self.base_url, "oauth-login/start") + "/"
        attempt = _registry(self).add(digest, url, redirect_uri, float(ttl), start_prefix)
        self.set_status(201)
        self.finish(
            json.dumps(
                {
                    "id": attempt.id,
                    "start_path": start_prefix + attempt.start_id,
                    "expires_in": ttl,
                }
            )
        )


class AttemptHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def post(self, attempt_id: str) -> None:
        """Long-poll: answers at once if something changed, else when it does or after ``timeout``.

        A POST (so JupyterHub's "write" permission, not "read"): the answer hands over the code and
        ends the attempt. Body: ``{"timeout": seconds, "opens": how many openings the kernel knows}``.
        """
        registry = _registry(self)
        attempt = registry.get(attempt_id)
        if attempt is None:
            raise web.HTTPError(404, "no such sign-in attempt (expired, cancelled or finished)")
        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        timeout, opens_seen = body.get("timeout", 25), body.get("opens", 0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
            raise web.HTTPError(400, "timeout must be a number of seconds")
        if isinstance(opens_seen, bool) or not isinstance(opens_seen, int):
            raise web.HTTPError(400, "opens must be a whole number")
        timeout = min(max(float(timeout), 0.0), MAX_POLL)
        if not attempt.settled and attempt.opens == opens_seen:
            attempt.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(attempt.changed.wait(), timeout)
        if registry.get(attempt_id) is None and not attempt.settled:
            raise web.HTTPError(404, "the sign-in attempt expired or was cancelled")
        answer = attempt.status()
        if attempt.settled:
            registry.remove(attempt_id)  # single use: the kernel has it now
        self.finish(json.dumps(answer))

    @web.authenticated
    @authorized
    def delete(self, attempt_id: str) -> None:
        _registry(self).remove(attempt_id)
        self.set_status(204)
        self.finish()


class InfoHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(
            json.dumps(
                {
                    "version": __version__,
                    "base_url": self.base_url,
                    "callback_path": url_path_join(self.base_url, CALLBACK_PATH),
                    "jupyterhub": bool(os.environ.get("JUPYTERHUB_API_TOKEN")),
                }
            )
        )


_START_IN_URI = re.compile(r"(oauth-login(?:/|%2F)start(?:/|%2F))[A-Za-z0-9_-]+", re.IGNORECASE)


def _redact_start_links(log_function: Callable[[Any], None] | None) -> Callable[[Any], None]:
    """Wrap the server's access-log function so no live start id reaches the log, at any level.

    The id is in the path (a 302 to the provider is logged at INFO) and in the ``next`` argument of
    a login redirect, which query scrubbing (``extra_log_scrub_param_keys``) does not cover.
    """

    def log(handler: Any) -> None:
        request = handler.request
        uri = request.uri
        request.uri = _START_IN_URI.sub(r"\1[redacted]", uri or "")
        try:
            if log_function is not None:
                log_function(handler)
            else:  # tornado's own access log would show the path: keep it short and redacted
                logger.debug("%d %s %s", handler.get_status(), request.method, request.uri)
        finally:
            request.uri = uri

    log._oauth_login_redacts = True  # type: ignore[attr-defined]
    return log


def setup_handlers(web_app: Any) -> None:
    base_url = web_app.settings["base_url"]
    web_app.settings.setdefault("oauth_login_registry", AttemptRegistry())
    current = web_app.settings.get("log_function")
    if not getattr(current, "_oauth_login_redacts", False):
        web_app.settings["log_function"] = _redact_start_links(current)

    def route(path: str) -> str:
        return url_path_join(base_url, "oauth-login", path)

    web_app.add_handlers(
        ".*$",
        [
            (route("callback"), CallbackHandler),
            (route("start/([A-Za-z0-9_-]+)"), StartHandler),
            (route("api/attempts"), AttemptsHandler),
            (route("api/attempts/([A-Za-z0-9_-]+)"), AttemptHandler),
            (route("api/info"), InfoHandler),
        ],
    )


def load_jupyter_server_extension(serverapp: Any) -> None:
    setup_handlers(serverapp.web_app)
    serverapp.log.info("oauth-login: sign-in relay at %s", url_path_join(serverapp.base_url, CALLBACK_PATH))


_load_jupyter_server_extension = load_jupyter_server_extension
