"""Pure request builders and response parsers: each grant sends exactly what it needs."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest

from oauth_login._errors import (
    AccessDeniedError,
    DeviceCodeExpiredError,
    InvalidGrantError,
    OAuthError,
    TransportError,
)
from oauth_login._grants import (
    DEVICE_CODE_GRANT,
    ClientAuth,
    DeviceAuthorization,
    TokenResponse,
    authorization_url,
    code_grant,
    device_authorization_request,
    device_token_request,
    nonce_sent,
    parse_device_authorization,
    parse_token_response,
    refresh_grant,
    revocation_request,
)
from oauth_login._transport import HTTPResponse

TOKEN_URL = "https://idp.test/token"
PUBLIC = ClientAuth("notebook")
SECRET = "s3cret-VALUE"


def json_response(status: int, doc: object) -> HTTPResponse:
    return HTTPResponse(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def auth_url(**kwargs) -> str:
    args = {
        "client_id": "notebook",
        "redirect_uri": "http://127.0.0.1:5000/callback",
        "scope": "openid profile",
        "state": "STATE",
        "code_challenge": "CHALLENGE",
        "nonce": "NONCE",
    }
    args.update(kwargs)
    endpoint = args.pop("endpoint", "https://idp.test/authorize")
    return authorization_url(endpoint, **args)


# --- authorization URL -----------------------------------------------------------------------


def test_authorization_url_carries_code_pkce_s256_state_and_nonce():
    url = auth_url()
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "idp.test", "/authorize", "")
    assert query_of(url) == {
        "response_type": ["code"],
        "client_id": ["notebook"],
        "redirect_uri": ["http://127.0.0.1:5000/callback"],
        "scope": ["openid profile"],
        "state": ["STATE"],
        "code_challenge": ["CHALLENGE"],
        "code_challenge_method": ["S256"],
        "nonce": ["NONCE"],
    }


def test_nonce_is_sent_only_with_the_openid_scope():
    assert "nonce" not in query_of(auth_url(scope="api offline_access"))
    assert "nonce" not in query_of(auth_url(scope="openidish api"))  # a whole scope, not a substring
    assert query_of(auth_url(scope="api openid"))["nonce"] == ["NONCE"]
    assert "nonce" not in query_of(auth_url(nonce=None))


def test_prompt_is_sent_only_when_given():
    assert query_of(auth_url(prompt="consent"))["prompt"] == ["consent"]
    assert "prompt" not in query_of(auth_url())
    assert "prompt" not in query_of(auth_url(prompt=""))


def test_extra_parameters_are_added_but_never_override_security_parameters():
    hostile = {
        "response_type": "token",
        "client_id": "other",
        "redirect_uri": "https://evil.example/cb",
        "scope": "admin",
        "state": "attacker-state",
        "code_challenge": "attacker-challenge",
        "code_challenge_method": "plain",
        "nonce": "attacker-nonce",
        "prompt": "none",
        "audience": "https://api.example",
    }
    query = query_of(auth_url(prompt="consent", extra=hostile))
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["notebook"]
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/callback"]
    assert query["scope"] == ["openid profile"]
    assert query["state"] == ["STATE"]
    assert query["code_challenge"] == ["CHALLENGE"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"] == ["NONCE"]
    assert query["prompt"] == ["consent"]
    assert query["audience"] == ["https://api.example"]


def test_existing_query_on_the_endpoint_is_kept():
    url = auth_url(endpoint="https://login.example/tenant/oauth2/authorize?p=B2C_1_signin&ui=x%20y")
    parts = urlsplit(url)
    assert parts.path == "/tenant/oauth2/authorize"
    query = query_of(url)
    assert query["p"] == ["B2C_1_signin"]
    assert query["ui"] == ["x y"]
    assert query["state"] == ["STATE"]
    assert query["code_challenge_method"] == ["S256"]


def test_values_are_url_encoded():
    url = auth_url(state="a&b=c", redirect_uri="http://127.0.0.1:5/cb?x=1")
    query = query_of(url)
    assert query["state"] == ["a&b=c"]
    assert query["redirect_uri"] == ["http://127.0.0.1:5/cb?x=1"]


# --- token endpoint request bodies -----------------------------------------------------------


def test_code_grant_for_a_public_client_sends_exactly_the_pkce_exchange():
    prepared = code_grant(
        TOKEN_URL, PUBLIC, code="CODE", redirect_uri="http://127.0.0.1:5/callback", code_verifier="VERIFIER"
    )
    assert prepared.url == TOKEN_URL
    assert dict(prepared.body) == {
        "grant_type": "authorization_code",
        "code": "CODE",
        "redirect_uri": "http://127.0.0.1:5/callback",
        "code_verifier": "VERIFIER",
        "client_id": "notebook",
    }
    assert dict(prepared.headers) == {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }


def test_code_grant_extras_are_added_but_cannot_replace_grant_parameters():
    prepared = code_grant(
        TOKEN_URL,
        PUBLIC,
        code="CODE",
        redirect_uri="r",
        code_verifier="V",
        extra={"grant_type": "password", "code": "other", "audience": "api"},
    )
    assert prepared.body["grant_type"] == "authorization_code"
    assert prepared.body["code"] == "CODE"
    assert set(prepared.body) == {
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "client_id",
        "audience",
    }


def test_refresh_grant_sends_exactly_the_refresh_parameters():
    prepared = refresh_grant(TOKEN_URL, PUBLIC, refresh_token="RT")
    assert dict(prepared.body) == {
        "grant_type": "refresh_token",
        "refresh_token": "RT",
        "client_id": "notebook",
    }
    scoped = refresh_grant(TOKEN_URL, PUBLIC, refresh_token="RT", scope="openid api")
    assert set(scoped.body) == {"grant_type", "refresh_token", "client_id", "scope"}
    assert scoped.body["scope"] == "openid api"


def test_device_authorization_request_sends_scope_and_client_id():
    prepared = device_authorization_request("https://idp.test/device", PUBLIC, scope="openid")
    assert prepared.url == "https://idp.test/device"
    assert dict(prepared.body) == {"scope": "openid", "client_id": "notebook"}
    with_audience = device_authorization_request(
        "https://idp.test/device", PUBLIC, scope="openid", extra={"audience": "api"}
    )
    assert set(with_audience.body) == {"scope", "client_id", "audience"}


def test_device_token_request_sends_the_device_code_grant():
    prepared = device_token_request(TOKEN_URL, PUBLIC, device_code="DC")
    assert DEVICE_CODE_GRANT == "urn:ietf:params:oauth:grant-type:device_code"
    assert dict(prepared.body) == {
        "grant_type": DEVICE_CODE_GRANT,
        "device_code": "DC",
        "client_id": "notebook",
    }


def test_revocation_request_sends_the_token_and_its_hint():
    prepared = revocation_request(
        "https://idp.test/revoke", PUBLIC, token="T", token_type_hint="refresh_token"
    )
    assert prepared.url == "https://idp.test/revoke"
    assert dict(prepared.body) == {"token": "T", "token_type_hint": "refresh_token", "client_id": "notebook"}
    bare = revocation_request("https://idp.test/revoke", PUBLIC, token="T")
    assert dict(bare.body) == {"token": "T", "client_id": "notebook"}


# --- client authentication -------------------------------------------------------------------


def _basic_credentials(headers) -> tuple[str, str]:
    scheme, _, value = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    decoded = base64.b64decode(value, validate=True).decode("ascii")
    user, sep, password = decoded.partition(":")
    assert sep == ":"
    assert ":" not in password  # the client id's own colons were encoded
    return user, password


@pytest.mark.parametrize("method", ["auto", "client_secret_basic"])
def test_client_secret_basic_puts_the_credentials_in_the_header_only(method):
    client = ClientAuth("notebook", SECRET, method=method)
    prepared = refresh_grant(TOKEN_URL, client, refresh_token="RT")
    assert dict(prepared.body) == {"grant_type": "refresh_token", "refresh_token": "RT"}
    assert _basic_credentials(prepared.headers) == ("notebook", SECRET)


def test_client_secret_basic_form_urlencodes_id_and_secret_rfc6749_2_3_1():
    client_id, secret = "urn:client:1/é", "p@ss:w%rd+/é"
    prepared = code_grant(
        TOKEN_URL, ClientAuth(client_id, secret), code="C", redirect_uri="r", code_verifier="V"
    )
    user, password = _basic_credentials(prepared.headers)
    assert ":" not in user and "@" not in password and "+" not in password and "/" not in password
    assert (unquote_plus(user), unquote_plus(password)) == (client_id, secret)
    assert "client_id" not in prepared.body and "client_secret" not in prepared.body


def test_client_secret_post_sends_id_and_secret_in_the_body():
    client = ClientAuth("notebook", SECRET, method="client_secret_post")
    prepared = refresh_grant(TOKEN_URL, client, refresh_token="RT")
    assert "Authorization" not in prepared.headers
    assert dict(prepared.body) == {
        "grant_type": "refresh_token",
        "refresh_token": "RT",
        "client_id": "notebook",
        "client_secret": SECRET,
    }


def test_method_none_never_sends_the_secret():
    prepared = refresh_grant(TOKEN_URL, ClientAuth("notebook", SECRET, method="none"), refresh_token="RT")
    assert "Authorization" not in prepared.headers
    assert SECRET not in json.dumps(dict(prepared.body))


def test_client_auth_repr_hides_the_secret():
    assert SECRET not in repr(ClientAuth("notebook", SECRET))


def test_prepared_request_repr_shows_neither_body_nor_basic_credentials():
    prepared = code_grant(
        TOKEN_URL,
        ClientAuth("notebook", SECRET),
        code="CODE-VALUE",
        redirect_uri="r",
        code_verifier="VERIFIER",
    )
    text = repr(prepared)
    assert "CODE-VALUE" not in text
    assert "VERIFIER" not in text
    basic = prepared.headers["Authorization"].split(" ", 1)[1]
    assert basic not in text  # base64 of "notebook:secret" is the secret in all but name


# --- token responses -------------------------------------------------------------------------


def test_parse_token_response_success():
    tokens = parse_token_response(
        json_response(
            200,
            {
                "access_token": "AT",
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": "RT",
                "id_token": "ID",
                "scope": "openid api",
            },
        )
    )
    assert (tokens.access_token, tokens.token_type, tokens.expires_in) == ("AT", "bearer", 3600.0)
    assert (tokens.refresh_token, tokens.id_token, tokens.scope) == ("RT", "ID", "openid api")
    assert isinstance(tokens.expires_in, float)


def test_parse_token_response_minimal_answer_gets_defaults():
    tokens = parse_token_response(json_response(200, {"access_token": "AT"}))
    assert tokens.token_type == "Bearer"
    assert tokens.expires_in is None
    assert tokens.refresh_token is None and tokens.id_token is None and tokens.scope is None


@pytest.mark.parametrize("doc", [{}, {"access_token": ""}, {"access_token": 5}, {"token_type": "Bearer"}])
def test_missing_access_token_is_an_invalid_response(doc):
    with pytest.raises(OAuthError) as info:
        parse_token_response(json_response(200, doc))
    assert type(info.value) is OAuthError
    assert info.value.error == "invalid_response"
    assert "access_token" in str(info.value)


@pytest.mark.parametrize(("raw", "expected"), [("3600", 3600.0), (3600, 3600.0), (59.5, 59.5)])
def test_expires_in_as_number_or_numeric_string(raw, expected):
    assert (
        parse_token_response(json_response(200, {"access_token": "AT", "expires_in": raw})).expires_in
        == expected
    )


@pytest.mark.parametrize("raw", ["soon", "-5", -5, True, None, [3600]])
def test_unusable_expires_in_is_ignored(raw):
    assert (
        parse_token_response(json_response(200, {"access_token": "AT", "expires_in": raw})).expires_in is None
    )


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("invalid_grant", InvalidGrantError),
        ("access_denied", AccessDeniedError),
        ("expired_token", DeviceCodeExpiredError),
    ],
)
def test_rfc_errors_become_typed_errors(code, cls):
    with pytest.raises(cls) as info:
        parse_token_response(
            json_response(
                400, {"error": code, "error_description": "why it failed", "error_uri": "https://doc"}
            )
        )
    assert info.value.error == code
    assert info.value.error_description == "why it failed"
    assert info.value.error_uri == "https://doc"
    assert info.value.status == 400


def test_other_rfc_errors_are_plain_oauth_errors():
    with pytest.raises(OAuthError) as info:
        parse_token_response(json_response(401, {"error": "invalid_client"}))
    assert type(info.value) is OAuthError
    assert info.value.error == "invalid_client"
    assert info.value.status == 401


def test_error_description_of_the_wrong_type_is_dropped():
    with pytest.raises(InvalidGrantError) as info:
        parse_token_response(json_response(400, {"error": "invalid_grant", "error_description": {"x": 1}}))
    assert info.value.error_description is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_server_errors_and_throttling_are_transport_errors(status):
    with pytest.raises(TransportError) as info:
        parse_token_response(HTTPResponse(status, b"<html>Bad gateway</html>"))
    assert str(status) in str(info.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_with_a_json_error_body_are_still_transport_errors(status):
    # DESIGN: "network errors and 5xx -> retry with backoff"; a 5xx that happens to carry
    # {"error": "server_error"} must not turn into a non-retryable OAuthError.
    with pytest.raises(TransportError):
        parse_token_response(json_response(status, {"error": "temporarily_unavailable"}))


def test_an_error_object_in_a_200_answer_is_still_that_error():
    # GitHub answers its token endpoint errors (authorization_pending, slow_down, bad_verification_code)
    # with HTTP 200; the device flow must still see "authorization_pending" to keep polling.
    with pytest.raises(OAuthError) as info:
        parse_token_response(json_response(200, {"error": "authorization_pending"}))
    assert info.value.error == "authorization_pending"


def test_non_json_400_is_an_oauth_error_not_a_transport_error():
    with pytest.raises(OAuthError) as info:
        parse_token_response(HTTPResponse(400, b"<html>Bad request</html>"))
    assert type(info.value) is OAuthError
    assert info.value.error == "invalid_response"
    assert info.value.status == 400
    assert "400" in str(info.value)


def test_non_json_200_is_an_invalid_response():
    with pytest.raises(OAuthError) as info:
        parse_token_response(HTTPResponse(200, b"access_token=AT-SECRET-VALUE&token_type=bearer"))
    assert info.value.error == "invalid_response"
    assert "AT-SECRET-VALUE" not in str(info.value)  # the body is never quoted


def test_token_response_repr_contains_no_token_values():
    tokens = TokenResponse("ACCESS-VALUE", refresh_token="REFRESH-VALUE", id_token="ID-VALUE", expires_in=60)
    for text in (repr(tokens), str(tokens)):
        assert "ACCESS-VALUE" not in text
        assert "REFRESH-VALUE" not in text
        assert "ID-VALUE" not in text
        assert "redacted" in text


# --- device authorization --------------------------------------------------------------------


def test_parse_device_authorization():
    grant = parse_device_authorization(
        json_response(
            200,
            {
                "device_code": "DEVICE-CODE",
                "user_code": "USER-CODE",
                "verification_uri": "https://idp.test/activate",
                "verification_uri_complete": "https://idp.test/activate?user_code=USER-CODE",
                "expires_in": 600,
                "interval": 7,
            },
        )
    )
    assert (grant.device_code, grant.user_code) == ("DEVICE-CODE", "USER-CODE")
    assert grant.verification_uri == "https://idp.test/activate"
    assert grant.verification_uri_complete == "https://idp.test/activate?user_code=USER-CODE"
    assert (grant.expires_in, grant.interval) == (600.0, 7.0)


def test_device_authorization_defaults_and_googles_verification_url():
    grant = parse_device_authorization(
        json_response(
            200,
            {"device_code": "D", "user_code": "U", "verification_url": "https://g/device", "expires_in": 60},
        )
    )
    assert grant.verification_uri == "https://g/device"
    assert grant.verification_uri_complete is None
    assert grant.interval == 5.0  # RFC 8628 3.2: default 5 s


def test_device_authorization_interval_is_at_least_one_second():
    grant = parse_device_authorization(
        json_response(
            200,
            {
                "device_code": "D",
                "user_code": "U",
                "verification_uri": "https://v",
                "expires_in": 60,
                "interval": 0,
            },
        )
    )
    assert grant.interval == 1.0


@pytest.mark.parametrize(
    "doc",
    [
        {"user_code": "U", "verification_uri": "https://v", "expires_in": 60},
        {"device_code": "D", "verification_uri": "https://v", "expires_in": 60},
        {"device_code": "D", "user_code": "U", "expires_in": 60},
        {"device_code": "D", "user_code": "U", "verification_uri": "https://v"},
        {"device_code": "D", "user_code": "U", "verification_uri": "https://v", "expires_in": "soon"},
    ],
)
def test_incomplete_device_authorization_is_an_invalid_response(doc):
    with pytest.raises(OAuthError) as info:
        parse_device_authorization(json_response(200, doc))
    assert info.value.error == "invalid_response"


def test_device_authorization_errors_are_typed():
    with pytest.raises(OAuthError) as info:
        parse_device_authorization(json_response(400, {"error": "unauthorized_client"}))
    assert info.value.error == "unauthorized_client"


def test_device_authorization_repr_contains_no_codes():
    grant = DeviceAuthorization("DEVICE-CODE", "USER-CODE", "https://v", "https://v?u=USER-CODE", 600, 5)
    text = repr(grant)
    assert "DEVICE-CODE" not in text
    assert "USER-CODE" not in text
    assert "https://v" in text


def test_nonce_sent_only_for_openid_requests():
    assert nonce_sent("profile openid offline_access")
    assert not nonce_sent("profile openidx offline_access")
    assert not nonce_sent("")
