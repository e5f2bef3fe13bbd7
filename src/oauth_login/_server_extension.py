"""The jupyter-server extension: receives the provider's redirect for kernels the browser cannot reach.

Routes, under the server's ``base_url``:

    GET    oauth-login/callback              the redirect URI; no login needed (a fresh browser, VS Code's
                                             system browser, an expired cookie), but only a ``state``
                                             registered by an authenticated kernel is accepted, once
    GET    oauth-login/start/<id>            the single-use link the panel opens; redirects to the provider
    POST   oauth-login/api/attempts          a kernel registers an attempt (sha256 of its state, the
                                             authorization URL, the redirect URI if fixed)
    GET    oauth-login/api/attempts/<id>     a kernel long-polls for the redirect's parameters
    DELETE oauth-login/api/attempts/<id>     a kernel cancels
    GET    oauth-login/api/info              what the kernel needs to know (and proof the extension is there)

The server never sees the ``state`` itself, only its SHA-256; it never sees the verifier or tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import time
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


@dataclass
class Attempt:
    id: str
    state_sha256: str
    authorization_url: str = field(repr=False)  # holds the state
    redirect_uri: str | None
    expires: float
    start_prefix: str = ""  # <base_url>oauth-login/start/
    opened: bool = False
    redirect_used: str | None = None
    params: dict[str, str] | None = field(default=None, repr=False)  # holds the code
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Each start link works once; using one makes the next (for a closed pop-up, a busy kernel).
    start_id: str = field(default="", repr=False)  # a live single-use link
    spent_starts: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.start_id = self.start_id or self.id

    def status(self) -> dict[str, Any]:
        if self.params is not None:
            # A fixed redirect URI holds even when the browser skipped the start link.
            return {
                "status": "done",
                "params": self.params,
                "redirect_uri": self.redirect_used or self.redirect_uri,
            }
        if self.opened:
            return {"status": "opened", "start_path": self.start_prefix + self.start_id}
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
        """The attempt whose current start link this is, and whether the link was one already used."""
        self._expire()
        for attempt in self._by_id.values():
            if secrets.compare_digest(attempt.start_id, start_id):
                return attempt, False
            if start_id in attempt.spent_starts:
                return None, True
        return None, False

    def by_state(self, state: str) -> Attempt | None:
        self._expire()
        digest = hashlib.sha256(state.encode("utf-8")).hexdigest()
        for attempt in self._by_id.values():
            if secrets.compare_digest(attempt.state_sha256, digest) and attempt.params is None:
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

    @web.authenticated
    @authorized
    def get(self, start_id: str) -> None:
        attempt, spent = _registry(self).by_start(start_id)
        if attempt is None or attempt.params is not None:
            self.send_page(410 if spent or attempt is not None else 404, _pages.STALE)
            return
        redirect_uri = attempt.redirect_used or attempt.redirect_uri or self._public_redirect_uri()
        attempt.spent_starts.add(attempt.start_id)
        attempt.start_id = secrets.token_urlsafe(16)
        attempt.opened = True
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
    async def get(self, attempt_id: str) -> None:
        """Long-poll: answers at once if something changed, else when it does or after ``timeout``."""
        registry = _registry(self)
        attempt = registry.get(attempt_id)
        if attempt is None:
            raise web.HTTPError(404, "no such sign-in attempt (expired, cancelled or finished)")
        opened_seen = self.get_argument("opened", "0") == "1"
        try:
            timeout = float(self.get_argument("timeout", "25"))
        except ValueError:
            raise web.HTTPError(400, "timeout must be a number of seconds") from None
        if math.isnan(timeout):
            raise web.HTTPError(400, "timeout must be a number of seconds")
        timeout = min(max(timeout, 0.0), MAX_POLL)
        if attempt.params is None and (attempt.opened == opened_seen):
            attempt.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(attempt.changed.wait(), timeout)
        if registry.get(attempt_id) is None and attempt.params is None:
            raise web.HTTPError(404, "the sign-in attempt expired or was cancelled")
        answer = attempt.status()
        if attempt.params is not None:
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


def setup_handlers(web_app: Any) -> None:
    base_url = web_app.settings["base_url"]
    web_app.settings.setdefault("oauth_login_registry", AttemptRegistry())

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
