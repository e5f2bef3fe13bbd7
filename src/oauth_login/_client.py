"""``OAuthClient``: one profile's tokens: sign in, refresh single-flight, get a token, sign out, status.

Refresh is single-flight across threads (a lock) *and* processes (the store's lock file): under
the lock the store is re-read first, because providers rotate refresh tokens and spending an old
one revokes the whole grant.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import Any

from . import _status as st
from ._credentials import MAX_ENTRY_CHARS, Credentials
from ._discovery import ProviderMetadata, discover
from ._errors import (
    IDTokenError,
    InvalidGrantError,
    LoginCancelledError,
    NotSignedInError,
    OAuthError,
    OAuthLoginError,
    SignInLinkExpiredError,
    StorageError,
    TransportError,
    invalid_scope_hint,
)
from ._grants import (
    ClientAuth,
    TokenResponse,
    nonce_sent,
    parse_token_response,
    refresh_grant,
    revocation_request,
)
from ._id_token import check_id_token, display_claims
from ._login import FlowResult, LoginAttempt, describe_error, run_flow
from ._modes import choose_mode
from ._profiles import Profile
from ._stores import TokenStore, select_store
from ._transport import HTTPRequest, RequestsTransport

__all__ = ["OAuthClient"]

logger = logging.getLogger("oauth_login")

_REFRESH_ATTEMPTS = 3
_ENTRY_VERSION = 1


def _graphical_browser_likely() -> bool:
    """False on a Linux/BSD box with no display and no $BROWSER: ``webbrowser`` would start a text
    browser (lynx, w3m) inside this terminal and take it over; printing the link is better there."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("BROWSER")
        )
    return True


def _session_ended(exc: OAuthError) -> bool:
    """Whether a refused refresh means the refresh token is dead: ``invalid_grant``, or an HTTP 400
    that is no OAuth error at all (Glewlwyd answers a revoked refresh token with an empty 400)."""
    return isinstance(exc, InvalidGrantError) or (exc.status == 400 and exc.error == "invalid_response")


def _newest(stored: Credentials | None, held: Credentials | None) -> Credentials | None:
    """The later of the store's entry and this process's tokens.

    Ours are newer when their save failed: refreshing from the store's copy would then present a
    refresh token the provider already rotated, and reuse detection would end the whole grant.
    """
    if stored is None or held is None:
        return stored or held
    if held.access_token == stored.access_token:
        return held  # the same tokens: ours keep the ID token and claims a compact entry may drop
    return held if held.issued_at > stored.issued_at else stored


def _print_link(link: str, user_code: str | None) -> None:
    code = f" and confirm the code {user_code}" if user_code else ""
    print(f"To sign in, open {link}{code}", file=sys.stderr, flush=True)


class OAuthClient:
    """The sign-in state of one profile. Thread-safe; one instance per profile per process is enough."""

    def __init__(
        self,
        profile: Profile,
        *,
        store: TokenStore | None = None,
        request: HTTPRequest | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile = profile
        self._store = store
        self._request: HTTPRequest = request or RequestsTransport(verify=profile.verify)
        self._clock = clock
        self._creds: Credentials | None = None
        self._fresh_until = float("-inf")  # the hot path compares one float
        self._loaded = False
        self._refresh_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._attempt: LoginAttempt | None = None
        self._save_failed = False  # warn once, not on every refresh, while the store keeps failing
        self._listeners: list[Callable[[st.LoginStatus], None]] = []
        self._status = st.LoginStatus(st.SIGNED_OUT, profile.name, profile.issuer)

    # --- plumbing -------------------------------------------------------------------------------
    @property
    def store(self) -> TokenStore:
        if self._store is None:
            self._store = select_store()
        return self._store

    @property
    def key(self) -> str:
        return self.profile.name

    @property
    def client_auth(self) -> ClientAuth:
        return ClientAuth(self.profile.client_id, self.profile.client_secret)

    def metadata(self) -> ProviderMetadata:
        return discover(self.profile.issuer, self._request)

    def subscribe(self, listener: Callable[[st.LoginStatus], None]) -> Callable[[], None]:
        """Call ``listener(status)`` on every change (from any thread); returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _set_status(self, state: str, **fields: Any) -> None:
        creds = self._creds if state == st.SIGNED_IN else None
        self._status = st.LoginStatus(
            state,
            self.profile.name,
            self.profile.issuer,
            account=creds.account if creds else None,
            expires_at=creds.expires_at if creds else None,
            refreshable=bool(creds.refresh_token) if creds else True,
            store=self._store.describe() if self._store is not None else "",
            **fields,
        )
        for listener in list(self._listeners):
            try:
                listener(self._status)
            except Exception:  # a broken UI must not break the sign-in
                logger.exception("a login status listener failed")

    # --- storage --------------------------------------------------------------------------------
    def _load_stored(self) -> Credentials | None:
        entry = self.store.load(self.key)
        self._loaded = True
        if entry is None:
            return None
        if entry.get("issuer") != self.profile.issuer or entry.get("client_id") != self.profile.client_id:
            logger.info(
                "stored sign-in for profile %r belongs to another issuer or client: ignored", self.key
            )
            return None
        try:
            return Credentials.from_entry(entry.get("credentials") or {})
        except ValueError as exc:
            logger.warning("stored sign-in for profile %r is unreadable (%s): ignored", self.key, exc)
            return None

    def _save(self, creds: Credentials) -> None:
        envelope: dict[str, Any] = {
            "issuer": self.profile.issuer,
            "client_id": self.profile.client_id,
            "scopes": self.profile.scope,
        }
        # Fit the store's size limit (Windows' keyring holds 1280 characters) by dropping the ID token
        # and claims first; the store's own wrapper needs a few characters too.
        limit = getattr(self.store, "max_entry_chars", None)
        budget = MAX_ENTRY_CHARS if limit is None else limit - len(json.dumps(envelope)) - 40
        envelope["credentials"] = creds.to_entry(max_chars=budget)
        try:
            self.store.save(self.key, envelope)
        except ValueError as exc:  # the entry does not fit this store even compacted
            raise StorageError(str(exc)) from exc
        except OSError as exc:  # a full disk, a read-only directory
            raise StorageError(
                f"the tokens could not be written ({exc.strerror or type(exc).__name__})",
                hint="check the free disk space and that the state directory is writable",
            ) from exc

    def _keep(self, creds: Credentials, *, after: str) -> None:
        """Store ``creds``, already adopted. A failed save is a warning, not an error: the tokens stay
        in memory, which beats losing them (a rotated refresh token, once lost, ends the grant)."""
        try:
            self._save(creds)
        except OAuthLoginError as exc:
            if not self._save_failed:
                logger.warning(
                    "%s, but the tokens could not be stored: %s; they last until this process ends",
                    after,
                    exc,
                )
            self._save_failed = True
        else:
            self._save_failed = False

    def _adopt(self, creds: Credentials) -> Credentials:
        self._creds = creds
        self._fresh_until = creds.refresh_due(self.profile.refresh_margin)
        self._set_status(st.SIGNED_IN)
        return creds

    def _forget(self) -> None:
        self._fresh_until = float("-inf")
        self._creds = None

    def _credentials_from(
        self,
        tokens: TokenResponse,
        metadata: ProviderMetadata,
        *,
        nonce: str | None,
        previous: Credentials | None,
    ) -> Credentials:
        claims = dict(previous.claims) if previous else {}
        if tokens.id_token:
            checked = check_id_token(
                tokens.id_token,
                issuer=metadata.issuer,
                client_id=self.profile.client_id,
                now=self._clock(),
                nonce=nonce,
                subject=previous.claims.get("sub") if previous and previous.claims.get("sub") else None,
            )
            claims = display_claims(checked)
        return Credentials(
            tokens.access_token,
            tokens.refresh_token or (previous.refresh_token if previous else None),  # keep the old one
            metadata.issuer,
            id_token=tokens.id_token or (previous.id_token if previous else None),
            expires_in=tokens.expires_in,
            issued_at=tokens.received_at,
            scopes=tokens.scope or (previous.scopes if previous else self.profile.scopes),
            claims=claims,
            token_type=tokens.token_type,
        )

    # --- signing in -----------------------------------------------------------------------------
    @property
    def attempt(self) -> LoginAttempt | None:
        """The sign-in in progress, if any."""
        attempt = self._attempt
        return attempt if attempt is not None and not attempt.done else None

    def start_login(
        self,
        *,
        mode: str | None = None,
        timeout: float | None = None,
        open_browser: bool | Callable[[str], object] = True,
        show_link: Callable[[str, str | None], None] | None = None,
        read_paste: Callable[[str], str | None] | None = None,
        idle_timeout: float | None = None,
    ) -> LoginAttempt:
        """Begin a sign-in in a background thread and return at once. A running attempt is cancelled.

        ``idle_timeout`` prepares a link for later (a notebook panel): it expires unopened after that
        long, and ``timeout`` then counts from the moment it is opened.
        """
        # Before any browser opens: a sign-in whose tokens cannot be kept is refused now, with the cause.
        self.store.check_writable(self.key)
        metadata = self.metadata()
        chosen, reason = choose_mode(
            mode or self.profile.mode, metadata, redirect_uri=self.profile.redirect_uri
        )
        attempt = LoginAttempt(chosen, reason, timeout or self.profile.timeout, idle_timeout)
        with self._state_lock:
            previous, self._attempt = self._attempt, attempt
        if previous is not None:
            previous.cancel()
        logger.info("signing in to %s using %s (%s)", self.profile.issuer, chosen, reason)
        announce = show_link or _print_link

        def link_ready(link: str, user_code: str | None) -> None:
            page = attempt.device_page if user_code else None
            self._set_status(
                st.WAITING, mode=chosen, mode_reason=reason, link=link, user_code=user_code, device_page=page
            )
            opened = False
            if open_browser is True and _graphical_browser_likely():
                opened = webbrowser.open(link)
            elif callable(open_browser):
                opened = bool(open_browser(link))
            if not opened or user_code or show_link is not None:
                announce(link, user_code)

        def opened(next_link: str) -> None:
            self._set_status(st.WAITING, mode=chosen, mode_reason=reason, link=next_link, opened=True)

        attempt.on_open = opened

        def run(current: LoginAttempt) -> Credentials:
            try:
                result: FlowResult = run_flow(
                    current,
                    self.profile,
                    metadata,
                    self._request,
                    self.client_auth,
                    show_link=link_ready,
                    read_paste=read_paste,
                )
                # Only an OpenID request carries the nonce; without one there is none to expect.
                nonce = result.nonce if nonce_sent(self.profile.scope) else None
                creds = self._credentials_from(result.tokens, metadata, nonce=nonce, previous=None)
            except BaseException as exc:
                if isinstance(exc, OAuthError) and exc.error == "invalid_scope":
                    exc.hint = self._scope_hint(metadata)
                if self._attempt is current:
                    # A cancelled attempt or a prepared link nobody used is no error to show.
                    quiet = (LoginCancelledError, SignInLinkExpiredError)
                    if isinstance(exc, quiet) or current.cancelled.is_set():
                        self._set_status(st.SIGNED_IN if self._creds else st.SIGNED_OUT)
                    else:
                        message, hint = describe_error(exc)
                        self._set_status(st.ERROR, mode=chosen, message=message, hint=hint)
                raise
            # Waiters get the tokens at once; the store is written right after, still under its lock,
            # so another thread or process that wants the entry waits for the write, never sees a gap.
            with self._refresh_lock, self.store.lock(self.key):
                current._deliver(self._adopt(creds))
                self._save_failed = False  # a new sign-in: say so again if its tokens cannot be kept
                self._keep(creds, after="signed in")
            return creds

        self._set_status(st.WAITING, mode=chosen, mode_reason=reason)
        attempt._start(run)
        return attempt

    def login(self, **kwargs: Any) -> Credentials:
        """Sign in and block until done; Ctrl-C cancels and frees the port. Options as ``start_login``."""
        try:
            attempt = self.start_login(**kwargs)
            creds = attempt.wait()
        except KeyboardInterrupt:
            # Ctrl-C can land before wait() is reached (on a busy machine): end the attempt all the same.
            started = self._attempt
            if started is not None:
                started.cancel_and_wait()
            raise
        attempt.join()  # the tokens are in the store too before a script or CLI goes on (or exits)
        return creds

    def cancel(self) -> None:
        attempt = self._attempt
        if attempt is not None:
            attempt.cancel()

    # --- tokens ---------------------------------------------------------------------------------
    def get_token(self, timeout: float | None = None) -> str:
        """A valid access token, refreshed ahead of expiry; waits (bounded) for a sign-in in progress."""
        creds = self._creds
        if creds is not None and self._clock() < self._fresh_until:
            return creds.access_token
        return self.credentials(timeout=timeout).access_token

    def credentials(self, timeout: float | None = None) -> Credentials:
        attempt = self.attempt
        if attempt is not None:
            # Waiting for a sign-in someone else started (the panel's): Ctrl-C must not cancel it.
            wait_for = timeout if timeout is not None else attempt.timeout
            return attempt.wait(wait_for, cancel_on_interrupt=False)
        if not self._loaded and self._creds is None:
            with self._refresh_lock:
                if not self._loaded and self._creds is None:
                    stored = self._load_stored()
                    if stored is not None:
                        self._adopt(stored)
        return self.refresh()

    def refresh(self, *, force: bool = False, failed_token: str | None = None) -> Credentials:
        """Fresh credentials, refreshing at most once across threads and processes.

        ``force`` refreshes even a token that looks fresh (after a 401), unless another caller
        already replaced ``failed_token``.
        """
        with self._refresh_lock:
            creds = self._creds
            if creds is not None and self._is_fresh(creds, force, failed_token):
                return creds
            with self.store.lock(self.key):
                base = _newest(self._load_stored(), creds)
                if base is not creds and base is not None and self._is_fresh(base, force, failed_token):
                    return self._adopt(base)  # another process refreshed already
                if base is None:
                    raise NotSignedInError(f"not signed in to {self.profile.issuer} (profile {self.key!r})")
                if not base.refresh_token:
                    if not base.expired(now=self._clock()) and not force:
                        return self._adopt(base)
                    self._forget()
                    self._set_status(
                        st.ERROR,
                        message="the access token expired and there is no refresh token",
                        hint="sign in again",
                    )
                    raise NotSignedInError(
                        "the access token expired and there is no refresh token",
                        hint="sign in again; ask for the offline_access scope to stay signed in",
                    )
                return self._refresh_locked(base)

    def _is_fresh(self, creds: Credentials, force: bool, failed_token: str | None) -> bool:
        if force:
            return failed_token is not None and creds.access_token != failed_token
        return self._clock() < creds.refresh_due(self.profile.refresh_margin)

    def _refresh_locked(self, base: Credentials) -> Credentials:
        assert base.refresh_token is not None
        metadata = self.metadata()
        prepared = refresh_grant(
            metadata.require("token_endpoint"), self.client_auth, refresh_token=base.refresh_token
        )
        delay = 0.5
        for attempt in range(_REFRESH_ATTEMPTS):
            try:
                response = self._request("POST", prepared.url, headers=prepared.headers, data=prepared.body)
                tokens = parse_token_response(response)
                break
            except OAuthError as exc:
                if _session_ended(exc):
                    # The refresh token is spent or revoked: it can never work again.
                    self.store.delete(self.key)
                    self._forget()
                    self._set_status(st.ERROR, message="session expired", hint="sign in again")
                    raise InvalidGrantError(
                        exc.error,
                        exc.error_description,
                        status=exc.status,
                        hint="session expired, sign in again",
                    ) from exc
                exc.hint = self._refusal_hint(exc, metadata)
                self._set_status(st.ERROR, message=exc.message, hint=exc.hint)
                raise
            except TransportError:
                if attempt == _REFRESH_ATTEMPTS - 1:
                    if not base.expired(now=self._clock()):
                        logger.warning(
                            "could not refresh the token (network); using the current one until it expires"
                        )
                        return base
                    raise
                time.sleep(delay)  # back off; stored tokens are kept whatever happens
                delay *= 2
        try:
            creds = self._credentials_from(tokens, metadata, nonce=None, previous=base)
        except IDTokenError as exc:
            # The provider has already rotated: keep its new refresh token, or the next refresh would
            # replay the spent one. Its access token is not used: the ID token that came with it failed.
            if tokens.refresh_token:
                kept = base.replace(refresh_token=tokens.refresh_token)
                self._adopt(kept)
                self._keep(kept, after="the refresh was refused")
            self._set_status(st.ERROR, message=exc.message, hint=exc.hint)
            raise
        # Adopt first, then save: tokens the provider has issued are never dropped for a failed save.
        self._adopt(creds)
        self._keep(creds, after="refreshed the access token")
        logger.debug("refreshed the access token for profile %r", self.key)
        return creds

    def _scope_hint(self, metadata: ProviderMetadata) -> str:
        supported = metadata.raw.get("scopes_supported")
        listed = [s for s in supported if isinstance(s, str)] if isinstance(supported, list) else None
        return invalid_scope_hint(self.profile.scopes, listed)

    def _refusal_hint(self, exc: OAuthError, metadata: ProviderMetadata) -> str:
        """The hint for a refresh the provider refused without ending the session."""
        if exc.error == "invalid_scope":
            return self._scope_hint(metadata)
        # About the client registration: signing in again would not help.
        if exc.error in ("unauthorized_client", "unsupported_grant_type"):
            return (
                "this client may not refresh tokens; check the client registration at the provider: "
                "allow the refresh_token grant"
            )
        if exc.error == "invalid_client":
            return exc.hint
        return "the provider refused to refresh the session; sign in again"

    # --- signing out and status -----------------------------------------------------------------
    def logout(self, *, revoke: bool = False) -> bool:
        """Forget the tokens here (and at the provider with ``revoke``). Returns True if revoked."""
        self.cancel()
        revoked = False
        with self._refresh_lock, self.store.lock(self.key):
            creds = self._creds or self._load_stored()
            if revoke and creds is not None:
                revoked = self._revoke(creds)
            self.store.delete(self.key)
            self._forget()
            self._loaded = True
        self._set_status(st.SIGNED_OUT)
        return revoked

    def _revoke(self, creds: Credentials) -> bool:
        try:
            endpoint = self.metadata().revocation_endpoint
        except OAuthLoginError as exc:
            logger.warning("could not revoke the tokens: %s; deleted them here only", exc.message)
            return False
        if endpoint is None:
            logger.warning("the provider does not support revocation (RFC 7009); tokens deleted here only")
            return False
        ok = True
        # The refresh token first: revoking it usually ends the whole grant, access tokens included.
        for token, hint in ((creds.refresh_token, "refresh_token"), (creds.access_token, "access_token")):
            if not token:
                continue
            prepared = revocation_request(endpoint, self.client_auth, token=token, token_type_hint=hint)
            try:
                response = self._request("POST", prepared.url, headers=prepared.headers, data=prepared.body)
            except TransportError as exc:
                logger.warning("could not revoke the %s: %s", hint.replace("_", " "), exc.message)
                ok = False
                continue
            if response.status != 200:
                logger.warning(
                    "the provider refused to revoke the %s (HTTP %s)", hint.replace("_", " "), response.status
                )
                ok = False
        return ok

    def status(self) -> st.LoginStatus:
        """The current status, reading the store once if nothing is known yet (no network)."""
        if not self._loaded and self._creds is None and self.attempt is None:
            with self._refresh_lock:
                stored = self._load_stored()
                if stored is not None:
                    self._adopt(stored)
        return self._status

    def __repr__(self) -> str:
        p = self.profile
        return f"OAuthClient(profile={p.name!r}, issuer={p.issuer!r}, state={self._status.state!r})"
