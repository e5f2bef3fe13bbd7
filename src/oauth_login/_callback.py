"""Checks on the redirect back from the provider: state first, then ``iss`` (RFC 9207), error, code."""

from __future__ import annotations

from collections.abc import Mapping

from ._errors import CallbackError, oauth_error_from_response
from ._pkce import constant_time_equal

__all__ = ["StateMismatchError", "check_callback"]


class StateMismatchError(CallbackError):
    """The ``state`` is missing, unknown or already used: the redirect is not for this attempt."""

    default_hint = "this sign-in link is not for the current attempt; start the sign-in again"


def check_state(params: Mapping[str, str], expected_state: str) -> None:
    if not constant_time_equal(expected_state, params.get("state")):
        raise StateMismatchError("the sign-in response does not belong to this sign-in attempt")


def check_issuer(params: Mapping[str, str], expected_issuer: str | None, *, required: bool) -> None:
    """RFC 9207: when the provider sends ``iss`` (or promises to), it must be ours: a mix-up defence.

    ``expected_issuer=None`` skips the check, for callers configured with endpoints but no issuer
    (the flytekit-compatible facade); the code is then bound to the token endpoint by PKCE alone.
    """
    if expected_issuer is None:
        return
    iss = params.get("iss")
    if iss is None:
        if required:
            raise CallbackError("the sign-in response lacks the 'iss' the provider promised (RFC 9207)")
        return
    if iss != expected_issuer:
        raise CallbackError("the sign-in response comes from another provider (its 'iss' does not match)")


def check_error(params: Mapping[str, str]) -> None:
    error = params.get("error")
    if error:
        raise oauth_error_from_response(
            error, params.get("error_description"), error_uri=params.get("error_uri")
        )


def check_code(params: Mapping[str, str]) -> str:
    code = params.get("code")
    if not code:
        raise CallbackError("the sign-in response holds neither a code nor an error")
    return code


def check_callback(
    params: Mapping[str, str], *, expected_state: str, expected_issuer: str | None, iss_required: bool
) -> str:
    """The authorization code in ``params``, or the error that explains why there is none."""
    check_state(params, expected_state)
    check_issuer(params, expected_issuer, required=iss_required)
    check_error(params)
    return check_code(params)
