"""One sign-in attempt: its own thread, fresh secrets, a receiver, and the code exchange.

The attempt never depends on the caller's thread being free: the loopback receiver and device
polling run here, so a notebook kernel busy in another cell still completes the sign-in.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._callback import check_callback
from ._credentials import Credentials
from ._device import DevicePrompt, run_device_flow
from ._discovery import ProviderMetadata
from ._errors import (
    CallbackError,
    ConfigurationError,
    LoginCancelledError,
    LoginTimeoutError,
    OAuthLoginError,
    SignInLinkExpiredError,
)
from ._grants import ClientAuth, TokenResponse, authorization_url, code_grant, parse_token_response
from ._loopback import LoopbackReceiver
from ._paste import check_pasted_redirect, start_paste_reader
from ._pkce import AttemptSecrets
from ._profiles import Profile
from ._relay import find_server, require_extension
from ._transport import HTTPRequest

__all__ = ["FlowResult", "LoginAttempt", "run_flow"]

PASTE_REDIRECT_URI = "http://127.0.0.1/callback"
# After Ctrl-C, how long the caller waits for the attempt to free its port and restore the terminal
# (both take milliseconds). It never waits longer: a token request in flight may take its time, and
# its answer is dropped anyway (a cancelled attempt keeps nothing).
CANCEL_GRACE_SECONDS = 3.0


@dataclass(frozen=True, repr=False)
class FlowResult:
    tokens: TokenResponse
    nonce: str | None  # the nonce the ID token must carry (None for the device flow)


class LoginAttempt:
    """A sign-in in progress. ``wait()`` for its ``Credentials``; ``cancel()`` ends it and frees its port."""

    def __init__(self, mode: str, reason: str, timeout: float, idle_timeout: float | None = None) -> None:
        self.mode = mode
        self.reason = reason
        self.timeout = timeout
        self.idle_timeout = idle_timeout  # a prepared link nobody opens expires after this
        # Called (from a server thread) when the link is opened, with the next link of this attempt.
        self.on_open: Callable[[str], None] | None = None
        self.link: str | None = None
        self.user_code: str | None = None
        # Device flow: the provider's page to type the code on, without the code (safe to show).
        self.device_page: str | None = None
        self.cancelled = threading.Event()
        self.link_ready = threading.Event()  # set once ``link`` is there to open
        self._done = threading.Event()
        self._result: Credentials | None = None
        self._error: BaseException | None = None
        self._receiver: LoopbackReceiver | None = None
        self._on_cancel: Callable[[], None] | None = None  # the server relay's way to stop waiting
        self._pastes: queue.Queue[str | None] = queue.Queue()  # paste mode: pasted addresses; None: cancel
        self._thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        self.cancelled.set()
        self._pastes.put(None)  # wakes a paste-mode wait at once
        if self._on_cancel is not None:
            self._on_cancel()
        receiver = self._receiver
        if receiver is not None:
            receiver.cancel()

    def wait(self, timeout: float | None = None, *, cancel_on_interrupt: bool = True) -> Credentials:
        """The credentials once signed in; raises the attempt's error, or ``LoginTimeoutError``.

        Ctrl-C cancels the attempt (and frees its port) when the caller owns it, as ``login()`` does;
        a caller that only waits for someone else's sign-in (``get_token()`` in a notebook, while the
        panel's link is ready) passes ``cancel_on_interrupt=False`` and leaves it running.
        """
        try:
            finished = self._done.wait(timeout)
        except KeyboardInterrupt:
            if cancel_on_interrupt:
                self.cancel_and_wait()
            raise
        if not finished:
            raise LoginTimeoutError(f"the sign-in did not finish within {timeout:g} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def _publish(self, link: str, user_code: str | None = None) -> None:
        self.link, self.user_code = link, user_code
        self.link_ready.set()

    def _opened(self, next_link: str) -> None:
        self.link = next_link
        if self.on_open is not None:
            self.on_open(next_link)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def cancel_and_wait(self) -> None:
        """Cancel, and give the attempt a moment (never more) to free its port and restore the terminal.

        What Ctrl-C does. The wait is bounded: an attempt busy in a token request or blocked in a
        reader nobody can interrupt must not keep a user who pressed Ctrl-C waiting.
        """
        self.cancel()
        self.join(CANCEL_GRACE_SECONDS)

    def paste(self, text: str) -> None:
        """Paste mode: hand over the address the browser ended on (from any thread, e.g. a UI's)."""
        self._pastes.put(text)

    def _next_paste(self) -> str:
        """Wait for a pasted address; Cancel and the deadline end the wait (``idle_timeout`` +
        ``timeout``: no "link opened" event exists in paste mode, so the link lives that long)."""
        limit = self.timeout + (self.idle_timeout or 0.0)
        try:
            text = self._pastes.get(timeout=limit)
        except queue.Empty:
            if self.idle_timeout is not None:  # a prepared link: the panel replaces it quietly
                raise SignInLinkExpiredError(f"nothing was pasted within {limit:g} s") from None
            raise LoginTimeoutError(f"nothing was pasted within {limit:g} s") from None
        if text is None or self.cancelled.is_set():
            raise LoginCancelledError("the sign-in was cancelled")
        return text

    def _deliver(self, creds: Credentials) -> None:
        """Hand the credentials to the waiters now; the thread may still be storing them."""
        self._result = creds
        self._done.set()

    def _start(self, target: Callable[[LoginAttempt], Credentials]) -> None:
        def run() -> None:
            try:
                self._result = target(self)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter, who re-raises it
                self._error = exc
            finally:
                self._done.set()

        self._thread = threading.Thread(target=run, name=f"oauth-login-{self.mode}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "done" if self.done else "cancelled" if self.cancelled.is_set() else "waiting"
        return f"LoginAttempt(mode={self.mode!r}, {state})"


def _exchange(
    profile: Profile,
    metadata: ProviderMetadata,
    request: HTTPRequest,
    client: ClientAuth,
    *,
    code: str,
    redirect_uri: str,
    secrets: AttemptSecrets,
) -> FlowResult:
    extra = {"audience": profile.audience} if profile.audience else None
    prepared = code_grant(
        metadata.require("token_endpoint"),
        client,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=secrets.verifier,
        extra=extra,
    )
    response = request("POST", prepared.url, headers=prepared.headers, data=prepared.body)
    return FlowResult(parse_token_response(response), secrets.nonce)


def _auth_url(
    profile: Profile, metadata: ProviderMetadata, redirect_uri: str | None, secrets: AttemptSecrets
) -> str:
    extra = dict(profile.extra_auth_params)
    if profile.audience:
        extra.setdefault("audience", profile.audience)
    return authorization_url(
        metadata.require("authorization_endpoint"),
        client_id=profile.client_id,
        redirect_uri=redirect_uri,
        scope=profile.scope,
        state=secrets.state,
        code_challenge=secrets.challenge,
        nonce=secrets.nonce,
        prompt=profile.authorization_prompt,
        extra=extra,
    )


def _loopback_address(profile: Profile) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    if not profile.redirect_uri:
        return "127.0.0.1", 0, "/callback"
    parts = urlsplit(profile.redirect_uri)
    return parts.hostname or "127.0.0.1", parts.port or 0, parts.path or "/callback"


def run_flow(
    attempt: LoginAttempt,
    profile: Profile,
    metadata: ProviderMetadata,
    request: HTTPRequest,
    client: ClientAuth,
    *,
    show_link: Callable[[str, str | None], None],
    read_paste: Callable[[str], str | None] | None = None,
) -> FlowResult:
    """Run ``attempt.mode`` to the end; ``show_link(link, user_code)`` is called once the link exists.

    ``read_paste`` (paste mode): None reads the terminal, hidden; see ``start_paste_reader``.
    """
    result = _run_mode(
        attempt, profile, metadata, request, client, show_link=show_link, read_paste=read_paste
    )
    if attempt.cancelled.is_set():  # cancelled while the code was exchanged: keep nothing
        raise LoginCancelledError("the sign-in was cancelled")
    return result


def _run_mode(
    attempt: LoginAttempt,
    profile: Profile,
    metadata: ProviderMetadata,
    request: HTTPRequest,
    client: ClientAuth,
    *,
    show_link: Callable[[str, str | None], None],
    read_paste: Callable[[str], str | None] | None,
) -> FlowResult:
    if attempt.mode == "device":

        def prompt(p: DevicePrompt) -> None:
            attempt.device_page = p.verification_uri
            attempt._publish(p.link, p.user_code)
            show_link(p.link, p.user_code)

        extra = {"audience": profile.audience} if profile.audience else None
        tokens = run_device_flow(
            metadata,
            client,
            request,
            scope=profile.scope,
            on_prompt=prompt,
            cancel=attempt.cancelled,
            timeout=attempt.timeout,
            extra=extra,
        )
        return FlowResult(tokens, None)

    secrets = AttemptSecrets()
    if attempt.mode == "server":
        return _run_server_relay(
            attempt,
            profile=profile,
            metadata=metadata,
            request=request,
            client=client,
            secrets=secrets,
            show_link=show_link,
        )
    if attempt.mode == "paste":
        redirect_uri = profile.redirect_uri or PASTE_REDIRECT_URI
        link = _auth_url(profile, metadata, redirect_uri, secrets)
        if attempt.cancelled.is_set():
            raise LoginCancelledError("the sign-in was cancelled")
        attempt._publish(link)
        show_link(link, None)
        stop_reading = start_paste_reader(read_paste, attempt.paste, attempt.cancel)
        try:
            params = check_pasted_redirect(redirect_uri, attempt._next_paste())
        finally:
            stop_reading()  # the terminal gets its echo back before anything else happens
        code = check_callback(
            params,
            expected_state=secrets.state,
            expected_issuer=metadata.issuer,
            iss_required=metadata.authorization_response_iss_parameter_supported,
        )
        return _exchange(
            profile, metadata, request, client, code=code, redirect_uri=redirect_uri, secrets=secrets
        )

    host, port, path = _loopback_address(profile)
    with LoopbackReceiver(host=host, port=port, path=path) as receiver:
        attempt._receiver = receiver
        receiver.on_open = attempt._opened
        if attempt.cancelled.is_set():
            raise LoginCancelledError("the sign-in was cancelled")
        redirect_uri = receiver.redirect_uri
        start_url = receiver.expect(
            state=secrets.state,
            issuer=metadata.issuer,
            iss_required=metadata.authorization_response_iss_parameter_supported,
            authorization_url=_auth_url(profile, metadata, redirect_uri, secrets),
        )
        attempt._publish(start_url)
        show_link(start_url, None)
        try:
            code = receiver.wait(attempt.timeout, idle_timeout=attempt.idle_timeout)
        finally:
            attempt._receiver = None
    # The port is free again before the exchange: nothing listens longer than needed.
    return _exchange(
        profile, metadata, request, client, code=code, redirect_uri=redirect_uri, secrets=secrets
    )


def _run_server_relay(
    attempt: LoginAttempt,
    *,
    profile: Profile,
    metadata: ProviderMetadata,
    request: HTTPRequest,
    client: ClientAuth,
    secrets: AttemptSecrets,
    show_link: Callable[[str, str | None], None],
) -> FlowResult:
    """The Jupyter server's extension receives the redirect; this kernel long-polls it for the code."""
    relay = find_server()
    if relay is None:
        raise ConfigurationError("mode 'server' needs a Jupyter server, and this kernel has none")
    require_extension(relay)
    ttl = (attempt.idle_timeout or 0) + attempt.timeout
    registration = relay.register(
        state=secrets.state,
        authorization_url=_auth_url(profile, metadata, None, secrets),
        redirect_uri=profile.redirect_uri,
        ttl=min(ttl, 3600.0),
    )
    attempt._on_cancel = lambda: relay.cancel(registration["id"])
    if attempt.cancelled.is_set():
        relay.cancel(registration["id"])
        raise LoginCancelledError("the sign-in was cancelled")
    # A path on the server: the browser opens it on whatever origin it reaches the server by.
    attempt._publish(registration["start_path"])
    show_link(registration["start_path"], None)
    try:
        result = relay.wait(
            registration["id"],
            timeout=attempt.timeout,
            idle_timeout=attempt.idle_timeout,
            cancelled=attempt.cancelled,
            on_open=lambda next_path: attempt._opened(next_path or registration["start_path"]),
        )
    except BaseException:
        relay.cancel(registration["id"])  # free its place on the server at once, whatever ended the wait
        raise
    code = check_callback(
        result.params,
        expected_state=secrets.state,
        expected_issuer=metadata.issuer,
        iss_required=metadata.authorization_response_iss_parameter_supported,
    )
    if not result.redirect_uri:
        raise CallbackError("the Jupyter server did not say which redirect URI the browser used")
    return _exchange(
        profile, metadata, request, client, code=code, redirect_uri=result.redirect_uri, secrets=secrets
    )


def describe_error(exc: BaseException) -> tuple[str, str]:
    """``(message, hint)`` for a UI, from any exception (never its traceback)."""
    if isinstance(exc, OAuthLoginError):
        return exc.message, exc.hint
    return f"{type(exc).__name__}", "see the log for details"
