"""The exception tree: one-line messages with a hint, RFC 6749 fields, typed subclasses."""

from __future__ import annotations

import pytest

from oauth_login._errors import (
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
    StorageError,
    TransportError,
    invalid_scope_hint,
    oauth_error_from_response,
)

ALL = [
    ConfigurationError,
    DiscoveryError,
    TransportError,
    CallbackError,
    IDTokenError,
    LoginTimeoutError,
    LoginCancelledError,
    StorageError,
    NotSignedInError,
]


@pytest.mark.parametrize("cls", ALL)
def test_str_is_one_line_with_the_default_hint(cls):
    exc = cls("something went wrong")
    text = str(exc)
    assert "\n" not in text
    assert text.startswith("something went wrong (")
    assert cls.default_hint
    assert text.endswith(f"({cls.default_hint})")
    assert exc.message == "something went wrong"
    assert exc.hint == cls.default_hint


def test_explicit_hint_replaces_the_default_and_empty_hint_drops_the_parentheses():
    assert str(ConfigurationError("bad", hint="do this")) == "bad (do this)"
    assert str(ConfigurationError("bad", hint="")) == "bad"


def test_render_traceback_is_a_single_line_with_the_class_name_and_hint():
    exc = NotSignedInError("not signed in")
    lines = exc._render_traceback_()
    assert lines == [f"NotSignedInError: not signed in ({NotSignedInError.default_hint})"]
    assert all("\n" not in line for line in lines)


def test_render_traceback_of_an_oauth_error_is_one_line_even_for_a_multiline_description():
    exc = InvalidGrantError("invalid_grant", "the grant\nwas revoked\r\n\tby an admin")
    (line,) = exc._render_traceback_()
    assert line == (
        "InvalidGrantError: invalid_grant: the grant was revoked by an admin "
        f"({InvalidGrantError.default_hint})"
    )


def test_multiline_messages_and_hints_are_flattened():
    exc = DiscoveryError("first line\nsecond line\n\n  third", hint="do\nthis")
    assert exc.message == "first line second line third"
    assert exc.hint == "do this"
    assert "\n" not in str(exc)


def test_long_descriptions_are_truncated_with_an_ellipsis():
    exc = OAuthError("invalid_request", "x" * 5000)
    assert exc.error_description is not None
    assert len(exc.error_description) == 300
    assert exc.error_description.endswith("…")
    assert len(exc.message) <= 300
    assert len(str(exc)) < 300 + len(exc.hint) + 4


def test_long_error_codes_are_truncated_harder():
    exc = OAuthError("e" * 1000)
    assert len(exc.error) == 80
    assert exc.error.endswith("…")


def test_oauth_error_keeps_the_rfc6749_fields():
    exc = OAuthError("invalid_client", "unknown client", error_uri="https://idp/doc", status=401)
    assert (exc.error, exc.error_description, exc.error_uri, exc.status) == (
        "invalid_client",
        "unknown client",
        "https://idp/doc",
        401,
    )
    assert exc.message == "invalid_client: unknown client"
    assert str(exc).startswith("invalid_client: unknown client (")


def test_oauth_error_without_description_shows_the_code_only():
    exc = OAuthError("server_error")
    assert exc.error_description is None
    assert exc.message == "server_error"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("access_denied", AccessDeniedError),
        ("invalid_grant", InvalidGrantError),
        ("expired_token", DeviceCodeExpiredError),
        ("invalid_client", OAuthError),
        ("something_new", OAuthError),
    ],
)
def test_oauth_error_from_response_picks_the_most_specific_class(code, cls):
    exc = oauth_error_from_response(code, "why", error_uri="https://doc", status=400)
    assert type(exc) is cls
    assert (exc.error, exc.error_description, exc.error_uri, exc.status) == (code, "why", "https://doc", 400)


def test_typed_errors_carry_their_own_hints():
    assert "sign in again" in str(InvalidGrantError("invalid_grant"))
    assert "approve" in str(AccessDeniedError("access_denied"))
    assert "expired" in str(DeviceCodeExpiredError("expired_token"))


def test_hierarchy_lets_callers_catch_broadly_or_by_stdlib_type():
    for cls in [*ALL, OAuthError, AccessDeniedError, InvalidGrantError, DeviceCodeExpiredError]:
        assert issubclass(cls, OAuthLoginError)
    for cls in (AccessDeniedError, InvalidGrantError, DeviceCodeExpiredError):
        assert issubclass(cls, OAuthError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(LoginTimeoutError, TimeoutError)
    with pytest.raises(ValueError, match="bad setting"):
        raise ConfigurationError("bad setting")


def test_args_hold_the_message_only():
    exc = OAuthError("invalid_grant", "expired")
    assert exc.args == ("invalid_grant: expired",)


# Every code a provider may send (RFC 6749 4.1.2.1 and 5.2, RFC 8628, OIDC Core 3.1.2.6),
# ours, and an unknown one.
PROVIDER_CODES = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "invalid_scope",
    "access_denied",
    "server_error",
    "temporarily_unavailable",
    "expired_token",
    "login_required",
    "consent_required",
    "interaction_required",
    "account_selection_required",
    "invalid_response",
    "something_new",
]


@pytest.mark.parametrize("code", PROVIDER_CODES)
def test_a_hint_never_points_at_a_description_the_provider_did_not_send(code):
    exc = oauth_error_from_response(code, None, status=400)
    assert exc.hint
    assert "above" not in exc.hint
    assert "provider's error" not in exc.hint
    assert "\n" not in str(exc)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("invalid_client", "client registration"),
        ("unauthorized_client", "client registration"),
        ("unsupported_grant_type", "client registration"),
        ("unsupported_response_type", "client registration"),
        ("invalid_scope", "scopes"),
        ("server_error", "try again"),
        ("temporarily_unavailable", "try again"),
        ("login_required", "sign in again"),
        ("invalid_request", "redirect URI"),
    ],
)
def test_each_provider_error_gets_a_hint_that_says_what_to_do(code, words):
    assert words in oauth_error_from_response(code).hint
    assert words in oauth_error_from_response(code, "with a description").hint


def test_an_unknown_error_without_description_says_the_provider_gave_no_reason():
    exc = oauth_error_from_response("bad_verification_code")
    assert "gave no reason" in exc.hint
    assert "bad_verification_code" in exc.hint
    described = oauth_error_from_response("bad_verification_code", "the code is wrong")
    assert "gave no reason" not in described.hint


def test_invalid_scope_hint_names_the_unsupported_scopes_and_what_the_provider_supports():
    hint = invalid_scope_hint(("openid", "api", "offline_access"), ("openid", "profile", "offline_access"))
    assert "'api'" in hint
    assert "asked for 'openid api offline_access'" in hint
    assert "supports 'openid profile offline_access'" in hint


def test_invalid_scope_hint_when_every_scope_is_listed_points_at_the_client_registration():
    hint = invalid_scope_hint(("openid", "profile"), ("openid", "profile", "email"))
    assert "asked for 'openid profile'" in hint
    assert "client registration" in hint


def test_invalid_scope_hint_without_scopes_supported_says_the_provider_lists_none():
    hint = invalid_scope_hint(("openid", "api"), None)
    assert "asked for 'openid api'" in hint
    assert "does not list" in hint
