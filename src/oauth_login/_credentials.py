"""``Credentials``: the tokens of one sign-in, their expiry and who they belong to; secrets never shown."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["Credentials"]

# Windows Credential Manager holds at most 2560 bytes per entry; leave room for the store's envelope.
MAX_ENTRY_CHARS = 2400


def _as_utc(value: datetime | float | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:  # 1e20, inf, nan: JSON has them, datetime not
            raise ValueError("expires_at is not a representable time") from exc
    if value.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware (use datetime.now(timezone.utc))")
    return value.astimezone(timezone.utc)


class Credentials:
    """Tokens from one sign-in.

    The positional parameters are those of flytekit's ``Credentials`` (``access_token, refresh_token,
    for_endpoint, expires_in, id_token``) so code written for it keeps working. ``expires_in`` given
    here is a lifetime counted from now; read back, it is the number of seconds left.
    """

    __slots__ = (
        "access_token",
        "claims",
        "expires_at",
        "for_endpoint",
        "id_token",
        "issued_at",
        "refresh_token",
        "scopes",
        "token_type",
    )

    def __init__(
        self,
        access_token: str,
        refresh_token: str | None = None,
        for_endpoint: str = "",
        expires_in: float | None = None,
        id_token: str | None = None,
        *,
        expires_at: datetime | float | None = None,
        scopes: Iterable[str] | str = (),
        claims: Mapping[str, str] | None = None,
        token_type: str = "Bearer",  # noqa: S107 - a token type name, not a secret
        issued_at: float | None = None,
    ) -> None:
        self.issued_at = time.time() if issued_at is None else float(issued_at)
        if expires_at is None and expires_in is not None:
            expires_at = self.issued_at + float(expires_in)
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.for_endpoint = for_endpoint
        self.id_token = id_token
        self.expires_at = _as_utc(expires_at)
        self.scopes = tuple(scopes.split() if isinstance(scopes, str) else scopes)
        self.claims = dict(claims or {})
        self.token_type = token_type

    @property
    def expires_in(self) -> int | None:
        """Whole seconds until the access token expires (negative once expired), or None if unknown."""
        if self.expires_at is None:
            return None
        return int(self.expires_at.timestamp() - time.time())

    @property
    def account(self) -> str:
        """Who signed in, for display: email, else username, else name, else subject."""
        for claim in ("email", "preferred_username", "name", "sub"):
            if self.claims.get(claim):
                return str(self.claims[claim])
        return "unknown user"

    def refresh_due(self, margin: float) -> float:
        """When to refresh (POSIX time): ``margin`` s before expiry, at most a quarter of the lifetime."""
        if self.expires_at is None:
            return float("inf")  # no expiry given: use the token until the API answers 401
        expires = self.expires_at.timestamp()
        return expires - min(margin, max(expires - self.issued_at, 0.0) / 4)

    def expired(self, *, now: float | None = None, leeway: float = 0.0) -> bool:
        if self.expires_at is None:
            return False
        return (time.time() if now is None else now) >= self.expires_at.timestamp() - leeway

    def replace(self, **changes: Any) -> Credentials:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Credentials(**fields)

    def to_entry(self, *, max_chars: int = MAX_ENTRY_CHARS) -> dict[str, Any]:
        """A compact dict for a store, dropping the ID token, then the claims, to fit ``max_chars``."""
        entry: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "for_endpoint": self.for_endpoint,
            "expires_at": self.expires_at.timestamp() if self.expires_at else None,
            "issued_at": round(self.issued_at, 3),
            "scopes": " ".join(self.scopes),
            "claims": self.claims,
        }
        if self.refresh_token:
            entry["refresh_token"] = self.refresh_token
        if self.id_token:
            entry["id_token"] = self.id_token
        for droppable in ("id_token", "claims"):
            if len(json.dumps(entry, separators=(",", ":"))) <= max_chars:
                break
            entry.pop(droppable, None)
        return entry

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Credentials:
        """Inverse of ``to_entry``; raises ``ValueError`` (without content) when the entry is malformed."""
        if not isinstance(entry, Mapping):
            raise ValueError("stored entry is not an object")
        access_token = entry.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("stored entry has no access token")
        expires_at = entry.get("expires_at")
        issued_at = entry.get("issued_at")
        for value in (expires_at, issued_at):
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise ValueError("stored entry has a malformed time")
        claims = entry.get("claims") or {}
        if not isinstance(claims, dict):
            raise ValueError("stored entry has malformed claims")

        def optional(name: str) -> str | None:
            value = entry.get(name)
            return value if isinstance(value, str) and value else None

        return cls(
            access_token,
            optional("refresh_token"),
            str(entry.get("for_endpoint") or ""),
            id_token=optional("id_token"),
            expires_at=expires_at,
            scopes=str(entry.get("scopes") or ""),
            claims={str(k): str(v) for k, v in claims.items()},
            token_type=optional("token_type") or "Bearer",
            issued_at=issued_at,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        expiry = self.expires_at.isoformat(timespec="seconds") if self.expires_at else None
        return (
            f"Credentials(account={self.account!r}, for_endpoint={self.for_endpoint!r}, expires_at={expiry}, "
            f"scopes={' '.join(self.scopes)!r}, access_token=<redacted>, "
            f"refresh_token={'<redacted>' if self.refresh_token else None}, "
            f"id_token={'<redacted>' if self.id_token else None})"
        )

    __str__ = __repr__
