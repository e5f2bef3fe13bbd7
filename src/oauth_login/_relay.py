"""The kernel's side of the Jupyter server relay: find our server, register an attempt, long-poll it.

A kernel started by a plain jupyter-server finds it in ``$JUPYTER_RUNTIME_DIR/jpserver-<ppid>.json``;
under JupyterHub, ``JUPYTERHUB_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN`` say where and how. These
are internal addresses, for the kernel's own requests only: the browser gets a path on the server
and its public origin is worked out when the link is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ._errors import (
    CallbackError,
    ConfigurationError,
    LoginCancelledError,
    LoginTimeoutError,
    SignInLinkExpiredError,
    TransportError,
)
from ._urls import is_loopback_host

__all__ = ["RelayResult", "ServerRelay", "find_server", "link_opened_twice", "require_extension"]

POLL_SECONDS = 25.0


@dataclass(frozen=True)
class ServerRelay:
    """How this kernel reaches its Jupyter server (internal URL and token)."""

    url: str  # internal base URL, ending with "/", e.g. http://127.0.0.1:8888/ or http://10.0.0.7:8888/user/alice/
    token: str = field(repr=False)
    source: str  # "runtime file" or "JupyterHub"

    @property
    def under_hub(self) -> bool:
        return self.source == "JupyterHub"

    @property
    def loopback_only(self) -> bool:
        """The server listens on this computer only, so its browser runs here too (no SSH tunnel assumed)."""
        return is_loopback_host(urlsplit(self.url).hostname or "")

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, timeout: float = 10.0
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(urljoin(self.url, path), data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                if 300 <= exc.code < 400:
                    raise TransportError(
                        f"the Jupyter server answered with a redirect (HTTP {exc.code}), which the "
                        "oauth-login relay never follows",
                        hint="check that the kernel's server URL is the server itself, not a login "
                        "page or a proxy in front of it",
                    ) from None
                raise _RelayHTTPError(exc.code) from None
        except OSError as exc:
            raise TransportError(f"could not reach the Jupyter server ({type(exc).__name__})") from exc
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            raise TransportError(
                "the Jupyter server's answer to the oauth-login relay is not JSON",
                hint="check that the kernel's server URL is the Jupyter server itself and that "
                "oauth-login is installed where the server runs",
            ) from None

    def info(self) -> dict[str, Any] | None:
        """The extension's self-description, or None when this server does not have it."""
        try:
            answer = self._request("GET", "oauth-login/api/info")
        except _RelayHTTPError as exc:
            if exc.status == 404:
                return None
            raise TransportError(
                f"the Jupyter server answered HTTP {exc.status} to the oauth-login relay"
            ) from exc
        return answer if isinstance(answer, dict) else None

    def register(
        self, *, state: str, authorization_url: str, redirect_uri: str | None, ttl: float
    ) -> dict[str, Any]:
        body = {
            "state_sha256": hashlib.sha256(state.encode("utf-8")).hexdigest(),
            "authorization_url": authorization_url,
            "redirect_uri": redirect_uri,
            "ttl": ttl,
        }
        try:
            answer = self._request("POST", "oauth-login/api/attempts", body)
        except _RelayHTTPError as exc:
            raise TransportError(
                f"the Jupyter server refused the sign-in attempt (HTTP {exc.status})"
            ) from exc
        if not isinstance(answer, dict) or "id" not in answer:
            raise TransportError("the Jupyter server's oauth-login relay gave an unexpected answer")
        return answer

    def cancel(self, attempt_id: str) -> None:
        with contextlib.suppress(_RelayHTTPError, TransportError):  # already gone: nothing to cancel
            self._request("DELETE", f"oauth-login/api/attempts/{attempt_id}")

    def wait(
        self,
        attempt_id: str,
        *,
        timeout: float,
        idle_timeout: float | None,
        cancelled: threading.Event,
        on_open: Callable[[str], None] | None = None,
    ) -> RelayResult:
        """Long-poll until the redirect arrived; ``timeout`` counts from the moment the link is opened.

        ``on_open(next_start_path)`` is called each time a start link is used, with the next one.
        """
        opens = 0  # start links used, as far as this kernel knows
        deadline = time.monotonic() + (idle_timeout if idle_timeout is not None else timeout)
        while True:
            if cancelled.is_set():
                raise LoginCancelledError("the sign-in was cancelled")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if not opens and idle_timeout is not None:
                    raise SignInLinkExpiredError(f"nobody opened the sign-in link within {idle_timeout:g} s")
                raise LoginTimeoutError(f"no answer from the browser within {timeout:g} s")
            poll = min(POLL_SECONDS, remaining)
            try:
                # A POST: the answer consumes the code (the server requires the "write" permission).
                answer = self._request(
                    "POST",
                    f"oauth-login/api/attempts/{attempt_id}",
                    {"timeout": round(poll, 3), "opens": opens},
                    timeout=poll + 10,
                )
            except _RelayHTTPError as exc:
                if cancelled.is_set():
                    raise LoginCancelledError("the sign-in was cancelled") from None
                if exc.status == 404:
                    raise LoginTimeoutError(
                        "the Jupyter server forgot the sign-in attempt (it expired)"
                    ) from None
                raise TransportError(f"the Jupyter server answered HTTP {exc.status}") from None
            status = answer.get("status") if isinstance(answer, dict) else None
            if status == "done":
                return RelayResult(dict(answer.get("params") or {}), str(answer.get("redirect_uri") or ""))
            if status == "failed":
                if answer.get("error") == "start_link_reused":
                    raise link_opened_twice()
                raise TransportError("the Jupyter server's oauth-login relay ended the sign-in")
            if status == "opened":
                seen = answer.get("opens")
                if isinstance(seen, int) and seen > opens:
                    if not opens:
                        deadline = time.monotonic() + timeout
                    opens = seen
                    if on_open is not None:
                        on_open(str(answer.get("start_path") or ""))  # the next link, for a closed pop-up


def link_opened_twice() -> CallbackError:
    """The error of an attempt whose used start link was opened again (someone else may hold it)."""
    return CallbackError(
        "the sign-in link was opened twice, so this sign-in was cancelled",
        hint="click Sign in for a new link; a sign-in link works once and is not to be shared",
    )


@dataclass(frozen=True, repr=False)
class RelayResult:
    params: dict[str, str]  # the redirect's query: code (or error), state, iss
    redirect_uri: str  # the redirect URI the browser was sent with, for the code exchange


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error here: following one would carry the API token to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Only our own server, directly: no proxy from the environment (the token and the code would cross it
# in clear, and urllib ignores CIDR entries in no_proxy) and no redirect (it would copy Authorization).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class _RelayHTTPError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _runtime_dir(env: Mapping[str, str]) -> Path:
    if env.get("JUPYTER_RUNTIME_DIR"):
        return Path(env["JUPYTER_RUNTIME_DIR"])
    from jupyter_core.paths import jupyter_runtime_dir  # present wherever a kernel runs

    return Path(jupyter_runtime_dir())


def find_server(env: Mapping[str, str] | None = None, parent_pid: int | None = None) -> ServerRelay | None:
    """The Jupyter server that started this kernel, if any (None under nbclient, papermill, IPython)."""
    env = os.environ if env is None else env
    hub_url, hub_token = env.get("JUPYTERHUB_SERVICE_URL"), env.get("JUPYTERHUB_API_TOKEN")
    if hub_url and hub_token:
        prefix = "/" + env.get("JUPYTERHUB_SERVICE_PREFIX", "/").strip("/")
        base = hub_url.rstrip("/")
        if not urlsplit(base).path.rstrip("/").endswith(prefix.rstrip("/")):
            base += prefix  # an internal URL given without the server's prefix
        return ServerRelay(base.rstrip("/") + "/", hub_token, "JupyterHub")
    try:
        path = _runtime_dir(env) / f"jpserver-{parent_pid or os.getppid()}.json"
        info = json.loads(path.read_text())
    except (ImportError, OSError, ValueError):
        return None
    url, token = info.get("url"), info.get("token", "")
    if not isinstance(url, str):
        return None
    base, prefix = url.rstrip("/"), "/" + str(info.get("base_url", "/")).strip("/")
    if not urlsplit(base).path.rstrip("/").endswith(prefix.rstrip("/")):
        base += prefix  # jupyter_server's "url" already ends with base_url; older servers' may not
    return ServerRelay(base.rstrip("/") + "/", str(token), "runtime file")


def require_extension(relay: ServerRelay) -> dict[str, Any]:
    info = relay.info()
    if info is None:
        raise ConfigurationError(
            "the Jupyter server has no oauth-login extension (installed only in the kernel's environment?)",
            hint="pip install oauth-login where the Jupyter server runs and restart it, or use --mode device",
        )
    return info
