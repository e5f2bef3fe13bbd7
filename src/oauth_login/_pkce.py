"""Fresh per-attempt secrets: the PKCE verifier and S256 challenge (RFC 7636), ``state`` and ``nonce``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

__all__ = ["AttemptSecrets", "constant_time_equal", "s256_challenge"]


def s256_challenge(verifier: str) -> str:
    """The ``code_challenge`` for ``verifier`` with method S256 (base64url, no padding)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def constant_time_equal(expected: str, received: str | None) -> bool:
    """Compare two secrets without leaking where they differ."""
    if received is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))


@dataclass(frozen=True)
class AttemptSecrets:
    """The secrets of one sign-in attempt. Never reused: make a new one for every attempt."""

    # 48 random bytes → 64 base64url characters: within RFC 7636's 43..128, 384 bits of entropy.
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def challenge(self) -> str:
        return s256_challenge(self.verifier)

    def __repr__(self) -> str:
        return "AttemptSecrets(<redacted>)"
