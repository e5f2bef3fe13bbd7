"""Checks on the redirect back from the provider: state first, then iss (RFC 9207), error, code."""

from __future__ import annotations

import pytest

from oauth_login._callback import StateMismatchError, check_callback
from oauth_login._errors import AccessDeniedError, CallbackError, InvalidGrantError, OAuthError

ISSUER = "https://idp.test"
STATE = "expected-state-value"


def check(params: dict[str, str], *, iss_required: bool = False) -> str:
    return check_callback(params, expected_state=STATE, expected_issuer=ISSUER, iss_required=iss_required)


def test_valid_callback_returns_the_code():
    assert check({"code": "CODE", "state": STATE, "iss": ISSUER}, iss_required=True) == "CODE"


def test_iss_absent_and_not_required_is_accepted():
    assert check({"code": "CODE", "state": STATE}) == "CODE"


@pytest.mark.parametrize("state", ["other-state", "", STATE[:-1], STATE + "x", STATE.upper()])
def test_wrong_state_is_rejected(state):
    with pytest.raises(StateMismatchError):
        check({"code": "CODE", "state": state, "iss": ISSUER})


def test_missing_state_is_rejected():
    with pytest.raises(StateMismatchError):
        check({"code": "CODE", "iss": ISSUER})


def test_state_is_checked_before_an_error_is_believed():
    # An attacker can send anyone to the redirect URI with ?error=...: without our state, ignore it.
    with pytest.raises(StateMismatchError):
        check({"error": "access_denied", "error_description": "forged", "state": "wrong"})
    with pytest.raises(StateMismatchError):
        check({"error": "access_denied"})


def test_state_is_checked_before_iss():
    with pytest.raises(StateMismatchError):
        check({"code": "CODE", "state": "wrong", "iss": "https://evil.example"}, iss_required=True)


def test_state_mismatch_is_a_callback_error_with_its_own_hint():
    with pytest.raises(CallbackError) as info:
        check({"code": "CODE", "state": "wrong"})
    assert "start the sign-in again" in str(info.value)
    assert "wrong" not in str(info.value) and STATE not in str(info.value)


def test_iss_mismatch_is_rejected_as_a_mix_up():
    with pytest.raises(CallbackError, match="iss") as info:
        check({"code": "CODE", "state": STATE, "iss": "https://evil.example"})
    assert not isinstance(info.value, StateMismatchError)


def test_iss_mismatch_is_checked_before_the_error_is_believed():
    with pytest.raises(CallbackError, match="iss"):
        check({"error": "access_denied", "state": STATE, "iss": "https://evil.example"})


def test_iss_is_compared_exactly():
    with pytest.raises(CallbackError):
        check({"code": "CODE", "state": STATE, "iss": ISSUER + "/"})


def test_iss_required_but_missing_is_rejected():
    with pytest.raises(CallbackError, match="RFC 9207"):
        check({"code": "CODE", "state": STATE}, iss_required=True)


def test_error_becomes_the_typed_error_with_its_description():
    with pytest.raises(AccessDeniedError) as info:
        check(
            {
                "error": "access_denied",
                "error_description": "The user said no",
                "error_uri": "https://idp.test/help",
                "state": STATE,
            }
        )
    assert info.value.error == "access_denied"
    assert info.value.error_description == "The user said no"
    assert info.value.error_uri == "https://idp.test/help"
    assert "The user said no" in str(info.value)


def test_other_errors_are_oauth_errors():
    with pytest.raises(OAuthError) as info:
        check({"error": "invalid_scope", "state": STATE, "iss": ISSUER})
    assert info.value.error == "invalid_scope"
    with pytest.raises(InvalidGrantError):
        check({"error": "invalid_grant", "state": STATE})


def test_error_wins_over_a_code_in_the_same_response():
    with pytest.raises(AccessDeniedError):
        check({"error": "access_denied", "code": "CODE", "state": STATE})


@pytest.mark.parametrize(
    "params", [{"state": STATE}, {"state": STATE, "code": ""}, {"state": STATE, "error": ""}]
)
def test_no_code_and_no_error_is_a_callback_error(params):
    with pytest.raises(CallbackError, match="neither a code nor an error") as info:
        check(params)
    assert not isinstance(info.value, StateMismatchError)
