"""Sign in to any OAuth 2.0 / OpenID Connect provider from notebooks, scripts and the terminal.

    import oauth_login, requests
    oauth_login.login(issuer="https://idp.example.com", client_id="notebook")   # opens the browser
    requests.get(API, auth=oauth_login.auth())                                   # bearer token, refreshed

Everything here is imported on first use, so ``import oauth_login`` costs almost nothing.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``from typing import``: importing typing would double our import time

__version__ = "0.1.0.dev0"

# public name -> private module that defines it
_EXPORTS = {
    "login": "_api",
    "get_token": "_api",
    "auth": "_api",
    "session": "_api",
    "logout": "_api",
    "status": "_api",
    "client": "_api",
    "OAuthClient": "_client",
    "LoginButton": "_panel",
    "LoginAttempt": "_login",
    "Credentials": "_credentials",
    "LoginStatus": "_status",
    "Profile": "_profiles",
    "resolve_profile": "_profiles",
    "config_file": "_paths",
    "state_dir": "_paths",
    "BearerAuth": "_requests_auth",
    "AccessDeniedError": "_errors",
    "CallbackError": "_errors",
    "ConfigurationError": "_errors",
    "DeviceCodeExpiredError": "_errors",
    "DiscoveryError": "_errors",
    "IDTokenError": "_errors",
    "InvalidGrantError": "_errors",
    "LoginCancelledError": "_errors",
    "LoginTimeoutError": "_errors",
    "NotSignedInError": "_errors",
    "OAuthError": "_errors",
    "OAuthLoginError": "_errors",
    "SignInLinkExpiredError": "_errors",
    "StorageError": "_errors",
    "TransportError": "_errors",
}

__all__ = [
    "AccessDeniedError",
    "BearerAuth",
    "CallbackError",
    "ConfigurationError",
    "Credentials",
    "DeviceCodeExpiredError",
    "DiscoveryError",
    "IDTokenError",
    "InvalidGrantError",
    "LoginAttempt",
    "LoginButton",
    "LoginCancelledError",
    "LoginStatus",
    "LoginTimeoutError",
    "NotSignedInError",
    "OAuthClient",
    "OAuthError",
    "OAuthLoginError",
    "Profile",
    "SignInLinkExpiredError",
    "StorageError",
    "TransportError",
    "auth",
    "client",
    "config_file",
    "get_token",
    "login",
    "logout",
    "resolve_profile",
    "session",
    "state_dir",
    "status",
]

if TYPE_CHECKING:
    from typing import Any

    from ._api import auth, client, get_token, login, logout, session, status
    from ._client import OAuthClient
    from ._credentials import Credentials
    from ._errors import (
        AccessDeniedError,
        CallbackError,
        ConfigurationError,
        DeviceCodeExpiredError,
        DiscoveryError,
        IDTokenError,
        InvalidGrantError,
        LoginCancelledError,
        LoginTimeoutError,
        NotSignedInError,
        OAuthError,
        OAuthLoginError,
        SignInLinkExpiredError,
        StorageError,
        TransportError,
    )
    from ._login import LoginAttempt
    from ._panel import LoginButton
    from ._paths import config_file, state_dir
    from ._profiles import Profile, resolve_profile
    from ._requests_auth import BearerAuth
    from ._status import LoginStatus


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter-server extension (the sign-in relay for remote kernels); enabled on install."""
    return [{"module": "oauth_login._server_extension"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext oauth_login``: register ``%oauth_login``, ``%oauth_status`` and ``%oauth_logout``."""
    from ._magics import OAuthMagics

    ipython.register_magics(OAuthMagics)  # by name: %reload_ext replaces, never duplicates


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext oauth_login``: remove the magics again."""
    from ._magics import OAuthMagics

    manager = ipython.magics_manager
    for name in OAuthMagics.magics["line"]:
        manager.magics["line"].pop(name, None)
    manager.registry.pop(OAuthMagics.__name__, None)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oauth_login' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
