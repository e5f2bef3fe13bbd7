"""The module-level API (``oauth_login.login``, ``get_token`` …) over one ``OAuthClient`` per profile."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from ._client import OAuthClient
from ._credentials import Credentials
from ._errors import ConfigurationError, NotSignedInError
from ._profiles import DEFAULT_PROFILE, Profile, load_profiles_file, resolve_profile
from ._status import SIGNED_OUT, LoginStatus

if TYPE_CHECKING:
    import requests

    from ._requests_auth import BearerAuth

__all__ = ["auth", "client", "get_token", "login", "logout", "session", "status"]

_clients: dict[str, OAuthClient] = {}
_current: OAuthClient | None = None  # the profile last signed in to in this process
_lock = threading.Lock()
_notices_shown: set[str] = set()

NOT_SIGNED_IN = "not signed in and no provider configured"
# How to sign in, in the words of each place that shows the status.
SIGN_IN_HINT_PYTHON = "to sign in: oauth_login.login(issuer=..., client_id=...) or %oauth_login"


def _restore_from_store(name: str | None, storage: str | None) -> Profile | None:
    """A profile rebuilt from a stored sign-in, which records issuer and client (a new process)."""
    from ._stores import select_store

    entry = select_store(storage).load(name or "default")
    if not entry or not entry.get("issuer") or not entry.get("client_id"):
        return None
    return Profile(
        issuer=str(entry["issuer"]),
        client_id=str(entry["client_id"]),
        name=name or "default",
        scopes=tuple(str(entry.get("scopes") or "openid").split()),
    )


def client(profile: str | None = None, *, storage: str | None = None, **settings: Any) -> OAuthClient:
    """The ``OAuthClient`` for a profile, made once per process and per settings."""
    global _current  # noqa: PLW0603 - the process-wide "current profile" is the point of this module
    if profile is None and not settings and storage is None and _current is not None:
        return _current
    try:
        resolved = resolve_profile(profile, **settings)
    except ConfigurationError:
        if settings:
            raise
        restored = _restore_from_store(profile, storage)
        if restored is None:
            raise
        resolved = restored
    with _lock:
        existing = _clients.get(resolved.name)
        if existing is None or existing.profile != resolved:
            if existing is not None:
                existing.cancel()
            from ._stores import select_store

            existing = OAuthClient(resolved, store=select_store(storage) if storage else None)
            _clients[resolved.name] = existing
        if profile is not None or settings or _current is None:
            _current = existing
        return existing


def login(
    profile: str | None = None,
    *,
    mode: str | None = None,
    timeout: float | None = None,
    open_browser: bool = True,
    storage: str | None = None,
    **settings: Any,
) -> Credentials:
    """Sign in and block until done; returns the ``Credentials``.

    ``profile`` names a profile in the profiles file; ``settings`` (``issuer``, ``client_id``,
    ``scopes``, ``redirect_uri``, ``audience``…) override it. ``mode`` is ``auto``, ``loopback``,
    ``device`` or ``paste``. ``storage`` is ``auto``, ``keyring``, ``file`` or ``memory``.
    """
    chosen = client(profile, storage=storage, **settings)
    notice = chosen.store.notice
    if notice and notice not in _notices_shown:
        _notices_shown.add(notice)
        print(f"oauth-login: {notice}", file=sys.stderr)  # where the tokens go is the user's business
    return chosen.login(mode=mode, timeout=timeout, open_browser=open_browser)


def get_token(profile: str | None = None, *, timeout: float | None = None) -> str:
    """A valid access token: refreshed ahead of expiry; waits up to ``timeout`` for a sign-in in progress."""
    current = _current
    if profile is None and current is not None:
        return current.get_token(timeout)
    try:
        return client(profile).get_token(timeout)
    except ConfigurationError as exc:
        if not nothing_configured(profile):
            raise  # a broken profile or directory: its own message says what to fix
        raise NotSignedInError(
            NOT_SIGNED_IN, hint="run oauth_login.login(issuer=..., client_id=...) or %oauth_login first"
        ) from exc


def auth(profile: str | None = None) -> BearerAuth:
    """A ``requests`` auth: ``requests.get(url, auth=oauth_login.auth())``."""
    from ._requests_auth import BearerAuth

    return BearerAuth(client(profile))


def session(profile: str | None = None) -> requests.Session:
    """A ``requests.Session`` whose requests carry the bearer token."""
    import requests

    s = requests.Session()
    s.auth = auth(profile)
    return s


def logout(profile: str | None = None, *, revoke: bool = False) -> bool:
    """Delete the stored tokens (revoking them at the provider first with ``revoke=True``)."""
    return client(profile).logout(revoke=revoke)


def nothing_configured(profile: str | None) -> bool:
    """No profile named, no ``OAUTH_LOGIN_ISSUER``, no default profile in the profiles file."""
    if profile is not None or os.environ.get("OAUTH_LOGIN_ISSUER"):
        return False
    doc = load_profiles_file()  # a broken file is an error to show, not "nobody signed in"
    profiles = doc.get("profiles")
    has_default = isinstance(profiles, dict) and DEFAULT_PROFILE in profiles
    return "default_profile" not in doc and not has_default


def status_or_nobody(profile: str | None, sign_in_hint: str) -> LoginStatus:
    """``status(profile)``; with nothing configured and nothing stored, "not signed in" and how to.

    The CLI, ``%oauth_status`` and ``oauth_login.status()`` share this, each with its own hint.
    """
    try:
        chosen = client(profile)
    except ConfigurationError:
        if not nothing_configured(profile):
            raise
        return LoginStatus(SIGNED_OUT, DEFAULT_PROFILE, "", message=NOT_SIGNED_IN, hint=sign_in_hint)
    return chosen.status()


def status(profile: str | None = None) -> LoginStatus:
    """Who is signed in and until when; reads the store, never the network."""
    return status_or_nobody(profile, SIGN_IN_HINT_PYTHON)
