"""``LoginStatus``: what a UI shows about one profile's sign-in; holds no secret by construction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

__all__ = ["ERROR", "SIGNED_IN", "SIGNED_OUT", "WAITING", "LoginStatus"]

SIGNED_OUT = "signed_out"
WAITING = "waiting"
SIGNED_IN = "signed_in"
ERROR = "error"


@dataclass(frozen=True)
class LoginStatus:
    state: str
    profile: str
    issuer: str
    account: str | None = None
    expires_at: datetime | None = None
    mode: str | None = None
    mode_reason: str | None = None
    link: str | None = None  # what the user opens: a single-use start URL or the device verification page
    user_code: str | None = None  # device flow: meant to be shown
    opened: bool = False  # waiting: the link was opened (a browser is on its way), not just prepared
    message: str = ""
    hint: str = ""
    store: str = ""

    @property
    def signed_in(self) -> bool:
        return self.state == SIGNED_IN

    def expires_in_text(self, now: float | None = None) -> str:
        if self.expires_at is None:
            return "no expiry given"
        left = self.expires_at.timestamp() - (time.time() if now is None else now)
        if left <= 0:
            return "expired (refreshed on next use)"
        if left < 120:
            return f"expires in {int(left)} s"
        return f"expires in {int(left // 60)} min"

    def __str__(self) -> str:
        if self.state == SIGNED_IN:
            return f"signed in as {self.account} ({self.expires_in_text()})"
        if self.state == WAITING:
            code = f" and enter the code {self.user_code}" if self.user_code else ""
            if not self.opened and self.link:
                return f"signed out; to sign in, open {self.link}{code}"
            where = f": {self.link}" if self.link else ""
            return f"waiting for the browser{where}{code}"
        if self.state == ERROR:
            return f"error: {self.message}" + (f" ({self.hint})" if self.hint else "")
        return "signed out"
