"""ID token claim checks (OIDC Core 3.1.3.7): iss, aud/azp, exp, nonce, sub on refresh."""

from __future__ import annotations

import base64
import traceback

import pytest

from oauth_login._errors import IDTokenError
from oauth_login._id_token import check_id_token, decode_payload, display_claims
from tests.fake_provider import make_id_token

ISSUER = "https://idp.test"
CLIENT = "notebook"
NOW = 1_700_000_000.0


def claims(**changes) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user-1",
        "exp": NOW + 300,
        "iat": NOW,
        "nonce": "NONCE",
        "email": "alice@example.com",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def check(token: str, **kwargs):
    args = {"issuer": ISSUER, "client_id": CLIENT, "now": NOW, "nonce": "NONCE"}
    args.update(kwargs)
    return check_id_token(token, **args)


def test_good_token_passes_and_returns_its_claims():
    result = check(make_id_token(claims()))
    assert result["sub"] == "user-1"
    assert result["email"] == "alice@example.com"


def test_wrong_issuer_is_rejected():
    with pytest.raises(IDTokenError, match="'iss'"):
        check(make_id_token(claims(iss="https://evil.example")))


def test_missing_issuer_is_rejected():
    with pytest.raises(IDTokenError, match="'iss'"):
        check(make_id_token(claims(iss=None)))


@pytest.mark.parametrize("aud", ["someone-else", ["a", "b"], [], 42])
def test_wrong_audience_is_rejected(aud):
    with pytest.raises(IDTokenError, match="'aud'"):
        check(make_id_token(claims(aud=aud)))


def test_audience_list_containing_us_with_our_azp_passes():
    check(make_id_token(claims(aud=[CLIENT, "api"], azp=CLIENT)))


@pytest.mark.parametrize("azp", ["api", None])
def test_several_audiences_need_us_as_authorized_party(azp):
    with pytest.raises(IDTokenError, match="azp"):
        check(make_id_token(claims(aud=[CLIENT, "api"], azp=azp)))


def test_single_audience_list_needs_no_azp():
    check(make_id_token(claims(aud=[CLIENT])))


def test_expired_beyond_the_leeway_is_rejected_with_a_clock_hint():
    with pytest.raises(IDTokenError, match="expired") as info:
        check(make_id_token(claims(exp=NOW - 61)), leeway=60)
    assert "clock" in info.value.hint


def test_expired_within_the_leeway_passes():
    check(make_id_token(claims(exp=NOW - 59)), leeway=60)
    with pytest.raises(IDTokenError, match="expired"):
        check(make_id_token(claims(exp=NOW - 1)), leeway=0)


@pytest.mark.parametrize("exp", [None, "1700000300", True])
def test_missing_or_malformed_exp_is_rejected(exp):
    with pytest.raises(IDTokenError, match="'exp'"):
        check(make_id_token(claims(exp=exp)))


@pytest.mark.parametrize("nonce", ["OTHER", "", None, 12345])
def test_wrong_or_missing_nonce_is_rejected(nonce):
    with pytest.raises(IDTokenError, match="nonce"):
        check(make_id_token(claims(nonce=nonce)))


def test_no_nonce_expected_on_refresh():
    check(make_id_token(claims(nonce=None)), nonce=None)


def test_subject_change_on_refresh_is_rejected():
    with pytest.raises(IDTokenError, match="'sub' changed"):
        check(make_id_token(claims(sub="user-2", nonce=None)), nonce=None, subject="user-1")


def test_same_subject_on_refresh_passes():
    check(make_id_token(claims(nonce=None)), nonce=None, subject="user-1")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


SECRET_MARK = "TOPSECRETTOKENTEXT"

MALFORMED = [
    f"{SECRET_MARK}",
    f"{SECRET_MARK}.onlytwo",
    f"a.{SECRET_MARK}.b.c",
    f"hdr.{SECRET_MARK}!!!.sig",
    f"hdr.{_b64(SECRET_MARK.encode())}.sig",  # base64 of something that is not JSON
    f"hdr.{_b64(b'[1, 2]')}.sig",  # JSON, but not an object
    f"hdr.{_b64(b'{' + SECRET_MARK.encode())}.sig",  # broken JSON that contains the secret
    f"hdr.{_b64(bytes([0xFF, 0xFE]) + SECRET_MARK.encode())}.sig",  # not UTF-8
    f"hdr.{SECRET_MARK}é.sig",  # not ASCII
]


@pytest.mark.parametrize("token", MALFORMED)
def test_malformed_tokens_raise_without_quoting_the_token(token):
    with pytest.raises(IDTokenError) as info:
        check(token)
    rendered = "".join(traceback.format_exception(info.value))  # includes any chained cause
    assert SECRET_MARK not in rendered
    assert token not in rendered
    assert SECRET_MARK not in repr(info.value)


def test_decode_payload_reads_unpadded_base64url():
    token = make_id_token({"sub": "x" * 7, "name": "Ünïcödé ~?>"})
    assert decode_payload(token) == {"sub": "xxxxxxx", "name": "Ünïcödé ~?>"}


def test_display_claims_keeps_only_the_names_of_the_account():
    shown = display_claims(
        {
            "sub": "u1",
            "email": "a@b",
            "preferred_username": "alice",
            "name": "Alice",
            "nonce": "N",
            "at_hash": "h",
        }
    )
    assert shown == {"sub": "u1", "email": "a@b", "preferred_username": "alice", "name": "Alice"}
