"""Drop-in for flytekit's ``flytekit.clients.auth.auth_client``: same names and parameters, a safer sign-in.

    from oauth_login.auth_client import AuthorizationClient

    client = AuthorizationClient(
        "flyte.example.com",
        auth_endpoint="https://idp.example.com/authorize",
        token_endpoint="https://idp.example.com/token",
        client_id="flytectl",
        redirect_uri="http://localhost:53593/callback",
        scopes=["openid", "offline_access"],
    )
    creds = client.get_creds_from_remote()        # opens the browser, waits for the redirect
    creds = client.refresh_access_token(creds)    # keeps the refresh token if none comes back

What is different from flytekit, on purpose:

- ``state``, the PKCE verifier and the nonce are new for every sign-in (flytekit makes ``state``
  once per client). A ``code_challenge``/``code_verifier`` pair passed in the parameter dicts, as
  flytekit's ``PKCEAuthenticator`` does, is checked and used as one pair; a challenge is never sent
  without its verifier.
- No per-endpoint singleton: flytekit returns the first client made for an endpoint whatever the
  other arguments say (another client id, redirect URI, scopes or session was silently ignored) and
  keeps it forever. Each ``AuthorizationClient(...)`` here is a new object; share one to share logins.
- Threads calling ``get_creds_from_remote()`` on one client at once share one sign-in: one browser
  tab, one code exchange, the same ``Credentials``.
- The redirect is caught by the core's loopback receiver: it binds only loopback (for a
  ``localhost`` redirect URI both 127.0.0.1 and ::1, so no other local user can take the port on
  IPv6), checks ``state`` first (a redirect for another attempt is ignored, error or not), serves from
  threads (a favicon or an idle browser socket never loses the login), and ends on an error
  redirect (``AccessDeniedError``...), after ``timeout`` seconds (``LoginTimeoutError``; flytekit
  waits forever) or on Ctrl-C, always freeing the port. A redirect URI without a port gets a free one.
- Token requests carry only what the grant needs, plus the caller's extra parameters
  (``audience``...): never ``state``, ``scope``, ``response_type``, ``code_challenge*`` or ``nonce``,
  even with ``add_request_auth_code_params_to_request_access_token_params=True``.
- ``refresh_access_token`` keeps the old refresh token when the provider sends none. A refused
  refresh raises ``AccessTokenNotFoundError`` as in flytekit (``InvalidRefreshTokenError`` for
  ``invalid_grant``), but a network failure or a 5xx raises ``TransportError``: the refresh token
  is probably still good, so callers should not throw it away and sign in again.
- ``verify=False`` warns loudly (``InsecureTransportWarning``); ``verify=None`` keeps the session's own.
- Every page sends CSP, ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, and the
  default pages load nothing from elsewhere. ``EndpointMetadata.failure_html`` is shown on an error
  redirect (flytekit ignores it; it also showed nothing at all when ``success_html`` was set).
  Custom pages are served under the same CSP: no scripts, no third-party images.
- ``repr()``, logs and error messages never contain a token, code, state or verifier.
- ``OAuthHTTPServer`` takes a keyword-only ``expected_state``: with it, a redirect (code *or*
  error) carrying another ``state`` gets the "not for this sign-in" page and the server keeps
  waiting, so a page that merely knows the port cannot end the sign-in. Without it (flytekit's
  calling code) the code is queued with its ``state`` for the caller to compare, as flytekit did,
  and an error redirect ends the wait. On Windows both servers hold their port with
  ``SO_EXCLUSIVEADDRUSE``.

Exceptions (besides the core's ``oauth_login.OAuthLoginError`` tree)::

    OAuthLoginError
    └── AccessTokenNotFoundError      no refresh token, or the refresh was refused; also a RuntimeError
        └── InvalidRefreshTokenError  invalid_grant: the refresh token is spent or revoked; also an
                                      oauth_login.InvalidGrantError (``.error``, ``.status``)
"""

from __future__ import annotations

import http.server
import logging
import sys
import threading
import time
import webbrowser
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from . import _pages
from ._credentials import Credentials
from ._errors import (
    ConfigurationError,
    InvalidGrantError,
    LoginCancelledError,
    LoginTimeoutError,
    OAuthError,
    OAuthLoginError,
    oauth_error_from_response,
)
from ._flytekit_compat import (
    DEFAULT_LOGIN_TIMEOUT,
    PKCEPair,
    authorization_extras,
    caller_pkce_pair,
    credentials_from,
    open_receiver,
    refresh_extras,
    signed_in_page,
    string_params,
    token_extras,
)
from ._grants import ClientAuth, authorization_url, code_grant, parse_token_response, refresh_grant
from ._loopback import LoopbackHTTPServer, LoopbackReceiver, bind_address, is_loopback_host
from ._page_handler import PageHandler
from ._pkce import AttemptSecrets, constant_time_equal
from ._transport import RequestsTransport

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_LOGIN_TIMEOUT",
    "AccessTokenNotFoundError",
    "AuthorizationClient",
    "AuthorizationCode",
    "Credentials",
    "EndpointMetadata",
    "InvalidRefreshTokenError",
    "OAuthCallbackHandler",
    "OAuthHTTPServer",
]

logger = logging.getLogger("oauth_login")

_POLL_SECONDS = 0.05  # how quickly OAuthHTTPServer.handle_request notices the callback or the deadline


class AccessTokenNotFoundError(OAuthLoginError, RuntimeError):
    """No refresh token, or the provider refused the refresh: sign in again (flytekit's name and base)."""

    default_hint = "sign in again with get_creds_from_remote()"


class InvalidRefreshTokenError(AccessTokenNotFoundError, InvalidGrantError):
    """The provider answered ``invalid_grant``: the refresh token is spent, expired or revoked."""

    default_hint = "the session expired or was revoked; sign in again with get_creds_from_remote()"


@dataclass(frozen=True, repr=False)
class AuthorizationCode:
    """The ``code`` and ``state`` of one authorization redirect (what ``OAuthHTTPServer`` queues)."""

    code: str
    state: str | None = None

    def __repr__(self) -> str:
        return "AuthorizationCode(<redacted>)"


@dataclass
class EndpointMetadata:
    """What the browser is shown after the redirect: ``success_html`` / ``failure_html`` or our pages."""

    endpoint: str
    success_html: bytes | None = None
    failure_html: bytes | None = None


class _Queue(Protocol):
    def put(self, item: Any, /) -> None: ...


def _as_bytes(html: bytes | str) -> bytes:
    return html.encode("utf-8") if isinstance(html, str) else html


def _loopback_host_header(value: str, port: int) -> bool:
    """Whether a ``Host`` header names this machine and port (refuses DNS-rebinding requests)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or port_text != str(port):
        return False
    return is_loopback_host(host)


_NOT_A_REDIRECT = _pages.page(
    "Not a sign-in response",
    "This address only accepts the sign-in provider's redirect. Start the sign-in again.",
    ok=False,
)


class OAuthCallbackHandler(PageHandler):
    """Answers the browser for ``OAuthHTTPServer``: the redirect path gets a page, anything else a 404."""

    server: OAuthHTTPServer
    log_name = "callback server"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        server = self.server
        if not _loopback_host_header(self.headers.get("Host", ""), server.server_port) or (
            url.path.strip("/") != server.callback_path.strip("/")
        ):
            self.send_page(404, _pages.NOT_FOUND)
            return
        if server.finished:
            self.send_page(400, _pages.STALE)  # single use: a replayed redirect ends nothing
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        metadata = server.remote_metadata
        if (params.get("error") or params.get("code")) and not server.state_matches(params.get("state")):
            logger.info("callback server: ignored a redirect that belongs to no current sign-in attempt")
            self.send_page(400, _pages.STALE)  # keep waiting for the real one
            return
        if params.get("error"):
            error = oauth_error_from_response(
                params["error"], params.get("error_description"), error_uri=params.get("error_uri")
            )
            if metadata.failure_html is not None:
                page = _as_bytes(metadata.failure_html)
            else:
                page = _pages.failure(error.error, error.error_description)
            self.send_page(400, page)
            server.handle_authorization_error(error)
        elif params.get("code"):
            if metadata.success_html is not None:
                page = _as_bytes(metadata.success_html)
            else:
                page = signed_in_page(metadata.endpoint)
            # The page goes out first, so the browser has it even if the program exits at once.
            self.send_page(200, page)
            self.handle_login(params)
        else:
            self.send_page(400, _NOT_A_REDIRECT)  # a prefetch or a hand-typed URL: keep waiting

    def handle_login(self, data: dict[str, str]) -> None:
        self.server.handle_authorization_code(AuthorizationCode(data["code"], data.get("state")))


class OAuthHTTPServer(LoopbackHTTPServer):
    """flytekit's callback server: ``handle_request(queue)`` puts one ``AuthorizationCode`` on ``queue``.

    Unlike flytekit's, it binds only loopback (another host raises ``ConfigurationError``), serves
    each request in a thread and keeps serving until the redirect path is hit with a ``code`` or an
    ``error``, or the deadline passes; an error or the deadline is put on the queue too (so a reader
    never waits forever) and raised. Either way the port is freed. ``redirect_path`` defaults to
    ``/callback``. With ``expected_state``, redirects carrying another ``state`` are ignored.
    """

    def __init__(  # noqa: PLR0917 - flytekit's signature, positional order included
        self,
        server_address: tuple[str, int],
        remote_metadata: EndpointMetadata,
        request_handler_class: type[http.server.BaseHTTPRequestHandler],
        bind_and_activate: bool = True,
        redirect_path: str | None = None,
        queue: _Queue | None = None,
        *,
        expected_state: str | None = None,
    ) -> None:
        host, port = server_address[0], server_address[1]
        bind_host = bind_address(host)
        self.expected_state = expected_state
        self._redirect_path = redirect_path
        self._remote_metadata = remote_metadata
        self._queue = queue
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._outcome: AuthorizationCode | str | OAuthLoginError | None = None
        self._serving = False
        self.server_name, self.server_port = bind_host, port  # until server_bind() knows the real port
        super().__init__((bind_host, port), request_handler_class, bind_and_activate)

    def state_matches(self, state: str | None) -> bool:
        """Whether a redirect's ``state`` is the expected one (always, when none is expected)."""
        return self.expected_state is None or constant_time_equal(self.expected_state, state)

    @property
    def redirect_path(self) -> str | None:
        return self._redirect_path

    @property
    def callback_path(self) -> str:
        return self._redirect_path or "/callback"

    @property
    def remote_metadata(self) -> EndpointMetadata:
        return self._remote_metadata

    @property
    def finished(self) -> bool:
        """Whether a code or an error has arrived (or the deadline passed)."""
        return self._done.is_set()

    def _finish(self, outcome: AuthorizationCode | str | OAuthLoginError) -> None:
        with self._lock:
            if self._done.is_set():
                return  # single use: the first redirect wins
            self._outcome = outcome
            self._done.set()
        if self._queue is not None:
            self._queue.put(outcome)
        if not self._serving:
            self.server_close()  # called directly, as flytekit's tests do: nothing else will close it

    def handle_authorization_code(self, auth_code: AuthorizationCode | str) -> None:
        self._finish(auth_code)

    def handle_authorization_error(self, error: OAuthLoginError) -> None:
        self._finish(error)

    def handle_request(self, queue: _Queue | None = None, *, timeout: float | None = None) -> None:
        """Serve until the redirect arrives or ``timeout`` seconds pass (default 300), then close.

        Puts the ``AuthorizationCode`` (or the error) on ``queue``; raises the error here too.
        """
        if queue is not None:
            self._queue = queue
        limit = DEFAULT_LOGIN_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + limit
        self._serving = True
        try:
            while not self._done.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._finish(LoginTimeoutError(f"no sign-in redirect arrived within {limit:g} s"))
                    break
                self.timeout = min(remaining, _POLL_SECONDS)
                super().handle_request()  # one connection at most, handled in its own thread
        finally:
            self._serving = False
            self.server_close()
        if isinstance(self._outcome, OAuthLoginError):
            raise self._outcome

    def __repr__(self) -> str:
        return (
            f"OAuthHTTPServer(address={self.server_name}:{self.server_port}, "
            f"redirect_path={self.callback_path!r})"
        )


class _SharedLogin:
    """One sign-in in progress that several threads wait for."""

    def __init__(self) -> None:
        self.result: Future[Credentials] = Future()
        self.receiver: LoopbackReceiver | None = None

    def cancel(self) -> None:
        receiver = self.receiver
        if receiver is not None:
            receiver.cancel()


class AuthorizationClient:
    """Signs in with the authorization-code flow and PKCE (S256) through the browser; refreshes tokens.

    Parameters are flytekit's, in flytekit's order, plus keyword-only ``timeout``: seconds to wait
    for the browser to come back (default 300). ``redirect_uri`` must be an ``http://`` loopback URI
    (``localhost``, ``127.0.0.1`` or ``[::1]``); ``None`` means ``http://127.0.0.1:<free port>/callback``.
    See the module docstring for what differs from flytekit.
    """

    def __init__(  # noqa: PLR0917 - flytekit's signature, positional order included
        self,
        endpoint: str,
        auth_endpoint: str,
        token_endpoint: str,
        audience: str | None = None,
        scopes: list[str] | None = None,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        endpoint_metadata: EndpointMetadata | None = None,
        verify: bool | str | None = None,
        session: requests.Session | None = None,
        request_auth_code_params: dict[str, str] | None = None,
        request_access_token_params: dict[str, str] | None = None,
        refresh_access_token_params: dict[str, str] | None = None,
        add_request_auth_code_params_to_request_access_token_params: bool | None = False,
        *,
        timeout: float = DEFAULT_LOGIN_TIMEOUT,
    ) -> None:
        if not timeout > 0:
            raise ConfigurationError(f"timeout must be a positive number of seconds (got {timeout})")
        self._endpoint = endpoint
        self._auth_endpoint = auth_endpoint
        self._token_endpoint = token_endpoint
        self._audience = audience
        self._scopes = [s.strip() for s in (scopes or []) if s and s.strip()]
        self._client_id = client_id
        self._redirect_uri = redirect_uri
        self._remote = endpoint_metadata or EndpointMetadata(
            endpoint=urlsplit(auth_endpoint).hostname or auth_endpoint
        )
        self._verify = verify
        self._session = session
        self._timeout = float(timeout)

        auth_params = string_params(request_auth_code_params)
        token_params = string_params(request_access_token_params)
        self._pkce: PKCEPair | None = caller_pkce_pair(auth_params, token_params)
        # As in flytekit, a "scope" in request_auth_code_params wins over `scopes`.
        self._scope = auth_params.get("scope") or " ".join(self._scopes)
        self._auth_extra = authorization_extras(auth_params, audience)
        self._token_extra = token_extras(
            auth_params,
            token_params,
            audience,
            copy_auth_params=bool(add_request_auth_code_params_to_request_access_token_params),
        )
        self._refresh_extra = refresh_extras(string_params(refresh_access_token_params))

        # verify=None (flytekit's default) leaves the session's own setting, e.g. a CA bundle path.
        if verify is None and session is None:
            verify = True
        # Built here, not in a helper: its verify=False warning points at the caller's line.
        self._request = RequestsTransport(session, verify=verify)
        self._login_lock = threading.Lock()
        self._login: _SharedLogin | None = None

    # --- signing in -----------------------------------------------------------------------------
    def get_creds_from_remote(self) -> Credentials:
        """Sign in through the browser and return the new ``Credentials``.

        Opens the browser with ``webbrowser.open_new_tab`` (printing the link to stderr when no
        browser opens) and waits up to ``timeout`` seconds. Threads that call this while a sign-in
        is in progress wait for it and get the same ``Credentials`` (or the same error).
        """
        with self._login_lock:
            login = self._login
            leading = login is None
            if login is None:
                login = self._login = _SharedLogin()
        if not leading:
            return self._join_login(login)
        try:
            creds = self._sign_in(login)
        except KeyboardInterrupt:
            login.result.set_exception(LoginCancelledError("the sign-in was interrupted (Ctrl-C)"))
            raise
        except BaseException as exc:
            login.result.set_exception(exc)
            raise
        else:
            login.result.set_result(creds)
            return creds
        finally:
            with self._login_lock:
                self._login = None

    def _join_login(self, login: _SharedLogin) -> Credentials:
        try:
            return login.result.result()
        except KeyboardInterrupt:
            login.cancel()  # Ctrl-C in any waiting thread ends the shared sign-in and frees the port
            raise

    def _require_client_id(self) -> str:
        if not self._client_id:
            raise ConfigurationError(
                "AuthorizationClient has no client_id",
                hint="pass client_id=... (the OAuth client registered for this program)",
            )
        return self._client_id

    def _sign_in(self, login: _SharedLogin) -> Credentials:
        client_id = self._require_client_id()
        attempt = AttemptSecrets()  # fresh state, verifier and nonce for every sign-in
        pkce = self._pkce or PKCEPair(attempt.verifier, attempt.challenge)
        nonce = attempt.nonce if "openid" in self._scope.split() else None
        remote = self._remote
        success_html = _as_bytes(remote.success_html) if remote.success_html is not None else None
        failure_html = _as_bytes(remote.failure_html) if remote.failure_html is not None else None
        receiver = open_receiver(
            self._redirect_uri,
            success_html=success_html or signed_in_page(remote.endpoint),
            failure_html=failure_html,
        )
        with receiver:
            login.receiver = receiver
            redirect_uri = receiver.redirect_uri
            # No issuer is configured (flytekit names endpoints), so RFC 9207's check is skipped;
            # state and PKCE still bind the redirect and the code to this attempt.
            start_url = receiver.expect(
                state=attempt.state,
                issuer=None,
                iss_required=False,
                authorization_url=authorization_url(
                    self._auth_endpoint,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    scope=self._scope,
                    state=attempt.state,
                    code_challenge=pkce.challenge,
                    nonce=nonce,
                    extra=self._auth_extra,
                ),
            )
            logger.info("signing in at %s", urlsplit(self._auth_endpoint).netloc)
            self._open_browser(start_url)
            code = receiver.wait(self._timeout)
        # The port is free again before the exchange: nothing listens longer than needed.
        prepared = code_grant(
            self._token_endpoint,
            ClientAuth(client_id),
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=pkce.verifier,
            extra=self._token_extra,
        )
        response = self._request("POST", prepared.url, headers=prepared.headers, data=prepared.body)
        return credentials_from(
            parse_token_response(response),
            for_endpoint=self._endpoint,
            client_id=client_id,
            requested_scopes=self._scope.split(),
            nonce=nonce,
        )

    @staticmethod
    def _open_browser(start_url: str) -> None:
        # The start URL is a single-use loopback link that redirects to the provider, so what may be
        # printed here carries no state and no PKCE challenge.
        try:
            opened = webbrowser.open_new_tab(start_url)
        except webbrowser.Error:
            opened = False
        if not opened:
            print(f"To sign in, open {start_url}", file=sys.stderr, flush=True)

    # --- refreshing -----------------------------------------------------------------------------
    def refresh_access_token(self, credentials: Credentials) -> Credentials:
        """New ``Credentials`` from ``credentials.refresh_token`` (kept when the provider sends none).

        Raises ``AccessTokenNotFoundError`` without a refresh token or when the provider refuses
        (``InvalidRefreshTokenError`` for ``invalid_grant``), ``TransportError`` on a network failure
        or a 5xx answer (the refresh token is then probably still valid: try again later).
        """
        refresh_token = getattr(credentials, "refresh_token", None)
        if not refresh_token:
            raise AccessTokenNotFoundError(
                "no refresh token available with which to refresh authorization credentials",
                hint="sign in again with get_creds_from_remote(); ask for offline_access to get one",
            )
        client_id = self._require_client_id()
        prepared = refresh_grant(
            self._token_endpoint,
            ClientAuth(client_id),
            refresh_token=refresh_token,
            extra=self._refresh_extra,
        )
        response = self._request("POST", prepared.url, headers=prepared.headers, data=prepared.body)
        try:
            tokens = parse_token_response(response)
        except InvalidGrantError as exc:
            raise InvalidRefreshTokenError(
                exc.error, exc.error_description, error_uri=exc.error_uri, status=exc.status
            ) from exc
        except OAuthError as exc:
            raise AccessTokenNotFoundError(
                f"the token endpoint refused the refresh (HTTP {exc.status or response.status}: {exc.error})"
            ) from exc
        return credentials_from(
            tokens,
            for_endpoint=self._endpoint,
            client_id=client_id,
            requested_scopes=self._scope.split(),
            previous=credentials,
        )

    def __repr__(self) -> str:
        return (
            f"AuthorizationClient(auth_endpoint={self._auth_endpoint!r}, "
            f"token_endpoint={self._token_endpoint!r}, client_id={self._client_id!r}, "
            f"scopes={self._scopes!r}, redirect_uri={self._redirect_uri!r})"
        )
