"""PKCE (RFC 7636) and the per-attempt secrets: state, nonce and verifier."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from oauth_login._pkce import AttemptSecrets, constant_time_equal, s256_challenge

# RFC 7636 allows only unreserved characters in the verifier: ALPHA / DIGIT / "-" / "." / "_" / "~".
VERIFIER_CHARSET = re.compile(r"^[A-Za-z0-9\-._~]+$")


# RFC 7636 Appendix B, verbatim.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_rfc7636_appendix_b():
    assert s256_challenge(RFC_VERIFIER) == RFC_CHALLENGE


def test_s256_is_base64url_of_sha256_without_padding():
    verifier = AttemptSecrets().verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert s256_challenge(verifier) == base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def test_challenge_property_is_the_s256_of_the_verifier():
    assert AttemptSecrets(verifier=RFC_VERIFIER).challenge == RFC_CHALLENGE


def test_challenge_is_unpadded_base64url():
    for _ in range(50):
        challenge = AttemptSecrets().challenge
        assert len(challenge) == 43  # 32 bytes of SHA-256, base64url without "="
        assert re.fullmatch(r"[A-Za-z0-9_-]+", challenge)


def test_verifier_length_and_charset_follow_rfc7636():
    for _ in range(50):
        verifier = AttemptSecrets().verifier
        assert 43 <= len(verifier) <= 128
        assert VERIFIER_CHARSET.match(verifier)


def test_every_attempt_gets_new_state_nonce_and_verifier():
    attempts = [AttemptSecrets() for _ in range(100)]
    for name in ("state", "nonce", "verifier"):
        values = {getattr(a, name) for a in attempts}
        assert len(values) == len(attempts), f"{name} repeated across attempts"
    for a in attempts:
        assert len({a.state, a.nonce, a.verifier}) == 3  # three independent secrets, not one reused
        assert len(a.state) >= 32 and len(a.nonce) >= 32  # 32 random bytes, base64url


def test_repr_and_str_are_redacted():
    secrets = AttemptSecrets()
    for text in (repr(secrets), str(secrets), f"{secrets!r}", repr([secrets])):
        assert secrets.state not in text
        assert secrets.nonce not in text
        assert secrets.verifier not in text
        assert secrets.challenge not in text
        assert "redacted" in text


def test_secrets_cannot_be_changed_after_creation():
    secrets = AttemptSecrets()
    with pytest.raises(AttributeError):
        secrets.state = "chosen-by-caller"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expected", "received", "equal"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("abc", "ab", False),
        ("abc", "abcd", False),
        ("abc", "", False),
        ("abc", None, False),
        ("", None, False),
        ("ünïcode", "ünïcode", True),
        ("ünïcode", "unicode", False),
    ],
)
def test_constant_time_equal(expected, received, equal):
    assert constant_time_equal(expected, received) is equal


def test_constant_time_equal_uses_hmac_compare_digest(monkeypatch):
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return a == b

    monkeypatch.setattr("oauth_login._pkce.hmac.compare_digest", spy)
    assert constant_time_equal("s", "s") is True
    assert calls == [(b"s", b"s")]
