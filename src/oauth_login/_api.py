"""The module-level API (``oauth_login.login``, ``get_token`` …) over one ``OAuthClient`` per profile."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from ._client import OAuthClient
from ._credentials import Credentials
from ._errors import ConfigurationError, NotSignedInError
from ._profiles import Profile, resolve_profile
from ._status import LoginStatus

if TYPE_CHECKING:
    import requests

    from ._requests_auth import BearerAuth

__all__ = ["auth", "client", "get_token", "login", "logout", "session", "status"]

_clients: dict[str, OAuthClient] = {}
_current: OAuthClient | None = None  # the profile last signed in to in this process
_lock = threading.Lock()
_notices_shown: set[str] = set()


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
        raise NotSignedInError(
            "not signed in and no provider configured",
            hint="run oauth_login.login(issuer=..., client_id=...) or %oauth_login first",
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


def status(profile: str | None = None) -> LoginStatus:
    """Who is signed in and until when; reads the store, never the network."""
    return client(profile).status()
