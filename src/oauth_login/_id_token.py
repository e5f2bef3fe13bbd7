"""Claim checks on an ID token received straight from the token endpoint (OIDC Core 3.1.3.7).

The token comes over the TLS connection we opened to the issuer's token endpoint, so the spec lets
a client rely on TLS instead of the signature (3.1.3.7 step 6); the claims are still checked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from ._errors import IDTokenError
from ._pkce import constant_time_equal

__all__ = ["DISPLAY_CLAIMS", "check_id_token", "decode_payload", "display_claims"]

# Claims safe to keep and show (they name the account); everything else in the token stays out.
DISPLAY_CLAIMS = ("sub", "email", "preferred_username", "name")


def decode_payload(token: str) -> dict[str, Any]:
    """The JSON payload of a compact JWS, unverified. Errors never quote the token."""
    parts = token.split(".")
    if len(parts) != 3:
        raise IDTokenError("the ID token is not a compact JWT")
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise IDTokenError("the ID token payload is not base64url JSON") from exc
    if not isinstance(payload, dict):
        raise IDTokenError("the ID token payload is not a JSON object")
    return payload


def check_id_token(
    token: str,
    *,
    issuer: str,
    client_id: str,
    now: float,
    nonce: str | None = None,
    subject: str | None = None,
    leeway: float = 60.0,
) -> dict[str, Any]:
    """The claims of ``token`` after checking ``iss``, ``aud``/``azp``, ``exp``, ``nonce`` (and ``sub``)."""
    claims = decode_payload(token)
    if claims.get("iss") != issuer:
        raise IDTokenError("the ID token was issued by another provider ('iss' does not match)")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise IDTokenError("the ID token is not meant for this client ('aud' does not match)")
    azp = claims.get("azp")
    # OIDC Core 3.1.3.7 steps 4-5: azp is required with several audiences and must be us when present.
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IDTokenError("the ID token was issued to another authorized party ('azp' does not match)")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise IDTokenError("the ID token has no valid 'exp'")
    if exp + leeway < now:
        raise IDTokenError("the ID token has expired", hint="check this computer's clock, then sign in again")
    if nonce is not None:
        received = claims.get("nonce")
        if not isinstance(received, str) or not constant_time_equal(nonce, received):
            raise IDTokenError("the ID token's 'nonce' does not match this sign-in attempt")
    if subject is not None and claims.get("sub") != subject:
        raise IDTokenError("the refreshed ID token names another user ('sub' changed)")
    return claims


def display_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(claims[k]) for k in DISPLAY_CLAIMS if isinstance(claims.get(k), (str, int))}
