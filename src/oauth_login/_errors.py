"""The exceptions oauth-login raises, each with a one-line hint that says what to do next.

    OAuthLoginError                 base; ``str()`` is one line: message, then the hint
    ├── ConfigurationError          bad or missing settings (issuer, client id, profile file, storage)
    ├── DiscoveryError              the provider's metadata could not be fetched or is unusable
    ├── TransportError              network failure or a 5xx answer; stored tokens are kept
    ├── OAuthError                  the provider answered an RFC 6749 ``error`` (``error_description``)
    │   ├── AccessDeniedError       the user (or a policy) refused the sign-in
    │   ├── InvalidGrantError       the refresh token or code is no longer valid: sign in again
    │   └── DeviceCodeExpiredError  the device code ran out before the user finished
    ├── CallbackError               an untrusted redirect (bad ``state``, wrong ``iss``, no code)
    ├── IDTokenError                the ID token's ``iss``, ``aud``, ``exp`` or ``nonce`` is wrong
    ├── LoginTimeoutError           the user did not finish in time; the port is freed
    │   └── SignInLinkExpiredError  a prepared sign-in link was never opened (a panel makes a new one)
    ├── LoginCancelledError         the login was cancelled (Cancel, Ctrl-C, another login replaced it)
    ├── StorageError                the token store (keyring, file) failed at run time
    └── NotSignedInError            a token was asked for but there is no login to use

Nothing secret ever goes into a message: callers pass descriptions, never token values.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessDeniedError",
    "CallbackError",
    "ConfigurationError",
    "DeviceCodeExpiredError",
    "DiscoveryError",
    "IDTokenError",
    "InvalidGrantError",
    "LoginCancelledError",
    "LoginTimeoutError",
    "NotSignedInError",
    "OAuthError",
    "OAuthLoginError",
    "SignInLinkExpiredError",
    "StorageError",
    "TransportError",
    "invalid_scope_hint",
    "oauth_error_from_response",
]

_MAX_DESCRIPTION = 300


def _one_line(text: str, limit: int = _MAX_DESCRIPTION) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class OAuthLoginError(Exception):
    """Base class. ``message`` says what happened, ``hint`` what to do about it."""

    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = _one_line(message)
        self.hint = _one_line(hint if hint is not None else self.default_hint)
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: one readable line in a notebook.
        return [f"{type(self).__name__}: {self}"]


class ConfigurationError(OAuthLoginError, ValueError):
    default_hint = "check the arguments, the OAUTH_LOGIN_* variables or the profiles file"


class DiscoveryError(OAuthLoginError):
    default_hint = "check the issuer URL; it must serve /.well-known/openid-configuration"


class TransportError(OAuthLoginError):
    default_hint = "check the network connection and try again; stored tokens were kept"


class OAuthError(OAuthLoginError):
    """The provider answered with an error from RFC 6749 section 5.2 (or 4.1.2.1, or RFC 8628).

    Without an explicit ``hint`` (and unless a subclass has its own), the hint is chosen by the
    ``error`` code: many providers send no ``error_description``, so the hint alone must say what to do.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        error_uri: str | None = None,
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.error = _one_line(error, 80)
        self.error_description = _one_line(error_description) if error_description else None
        self.error_uri = error_uri
        self.status = status
        message = self.error if not self.error_description else f"{self.error}: {self.error_description}"
        if hint is None and not self.default_hint:
            hint = _hint_for(self.error, described=self.error_description is not None)
        super().__init__(message, hint=hint)


class AccessDeniedError(OAuthError):
    default_hint = "the sign-in was refused; click Sign in again and approve the request"


class InvalidGrantError(OAuthError):
    default_hint = "the session expired or was revoked; sign in again"


class DeviceCodeExpiredError(OAuthError):
    default_hint = "the code expired before it was entered; start the sign-in again"


class CallbackError(OAuthLoginError):
    default_hint = "start the sign-in again from this session; do not reuse old sign-in links"


class IDTokenError(OAuthLoginError):
    default_hint = "the provider's ID token does not match this login; check the issuer and client id"


class LoginTimeoutError(OAuthLoginError, TimeoutError):
    default_hint = "the browser did not come back in time; start the sign-in again"


class SignInLinkExpiredError(LoginTimeoutError):
    default_hint = "click Sign in again for a fresh link"


class LoginCancelledError(OAuthLoginError):
    default_hint = "start the sign-in again when ready"


class StorageError(OAuthLoginError):
    default_hint = "set OAUTH_LOGIN_STORAGE=file to keep tokens in a private file instead"


class NotSignedInError(OAuthLoginError):
    default_hint = "run oauth_login.login() or %oauth_login first"


_REGISTRATION = "check the client registration at the provider"
_SIGN_IN_AGAIN = "sign in again and finish the provider's page"
_TRY_AGAIN = "the provider failed to answer; try again in a moment"
# RFC 6749 4.1.2.1 and 5.2, OIDC Core 3.1.2.6, and ours ("invalid_response").
_HINTS = {
    "invalid_request": "the provider found the request malformed; check the redirect URI, audience and "
    "extra parameters configured",
    "invalid_client": f"the provider does not accept this client id or secret; {_REGISTRATION}: "
    "the client id, its secret, whether it is a public client",
    "unauthorized_client": f"this client may not sign in this way; {_REGISTRATION}: "
    "its allowed grant types and redirect URIs",
    "unsupported_grant_type": f"this client may not use this grant; {_REGISTRATION}, or try another --mode",
    "unsupported_response_type": f"this client may not use the authorization code flow; {_REGISTRATION}",
    "invalid_scope": "the provider refused the scopes asked for; ask only for scopes it supports",
    "server_error": _TRY_AGAIN,
    "temporarily_unavailable": _TRY_AGAIN,
    "login_required": _SIGN_IN_AGAIN,
    "consent_required": _SIGN_IN_AGAIN,
    "interaction_required": _SIGN_IN_AGAIN,
    "account_selection_required": _SIGN_IN_AGAIN,
    "invalid_response": "the provider's answer was not understood; check the issuer URL, then try again",
}


def _hint_for(error: str, *, described: bool) -> str:
    if error in _HINTS:
        return _HINTS[error]
    if described:
        return "the provider's message says what went wrong; fix that, then sign in again"
    return f"the provider gave no reason for '{error}'; look it up in the provider's documentation"


def invalid_scope_hint(requested: Sequence[str], supported: Sequence[str] | None) -> str:
    """The hint for ``invalid_scope``: which scopes were asked for and which the provider supports.

    ``supported`` is the provider's ``scopes_supported`` (discovery), or None when it lists none.
    """
    asked = " ".join(requested)
    if not supported:
        return (
            f"asked for '{asked}'; the provider does not list the scopes it supports: "
            "ask its administrator which ones this client may use"
        )
    unknown = [s for s in requested if s not in supported]
    offers = " ".join(supported)
    if not unknown:
        return (
            f"asked for '{asked}', all listed as supported; {_REGISTRATION}: the scopes this client may use"
        )
    listed = " ".join(f"'{s}'" for s in unknown)
    return f"the provider does not support {listed}: asked for '{asked}'; it supports '{offers}'"


_BY_ERROR: dict[str, type[OAuthError]] = {
    "access_denied": AccessDeniedError,
    "invalid_grant": InvalidGrantError,
    "expired_token": DeviceCodeExpiredError,
}


def oauth_error_from_response(
    error: str,
    error_description: str | None = None,
    *,
    error_uri: str | None = None,
    status: int | None = None,
) -> OAuthError:
    """The most specific ``OAuthError`` subclass for an RFC 6749 ``error`` code."""
    cls = _BY_ERROR.get(error, OAuthError)
    return cls(error, error_description, error_uri=error_uri, status=status)
