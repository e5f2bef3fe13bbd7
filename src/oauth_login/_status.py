"""``LoginStatus``: what a UI shows about one profile's sign-in; holds no secret by construction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
    # What the user opens: a single-use start URL or the device verification page. A live link: for the
    # UI that opens it only, never in str() or repr() (they end up in notebooks and logs).
    link: str | None = field(default=None, repr=False)
    user_code: str | None = None  # device flow: meant to be shown
    # Device flow: the provider's page to enter ``user_code`` on (``verification_uri``): a fixed public
    # page, not a sign-in link, so it may be shown where the live link may not (saved outputs).
    device_page: str | None = None
    opened: bool = False  # waiting: the link was opened (a browser is on its way), not just prepared
    message: str = ""
    hint: str = ""
    store: str = ""
    refreshable: bool = True  # signed in with a refresh token: an expired access token is renewed on use

    @property
    def signed_in(self) -> bool:
        return self.state == SIGNED_IN

    def expires_in_text(self, now: float | None = None) -> str:
        if self.expires_at is None:
            return "no expiry given"
        left = self.expires_at.timestamp() - (time.time() if now is None else now)
        if left <= 0:
            return "expired (refreshed on next use)" if self.refreshable else "expired; sign in again"
        if left < 120:
            return f"expires in {int(left)} s"
        return f"expires in {int(left // 60)} min"

    def __str__(self) -> str:
        if self.state == SIGNED_IN:
            return f"signed in as {self.account} ({self.expires_in_text()})"
        if self.state == WAITING:
            if self.user_code and self.device_page:
                return f"waiting: open {self.device_page} and enter the code {self.user_code}"
            code = f"; enter the code {self.user_code}" if self.user_code else ""
            if not self.opened and self.link:
                return f"signed out; a sign-in link is ready in the login panel{code}"
            return f"waiting for the browser{code}"
        if self.state == ERROR:
            return f"error: {self.message}" + (f" ({self.hint})" if self.hint else "")
        if self.message:  # e.g. "not signed in and no provider configured", with how to sign in
            return self.message + (f" ({self.hint})" if self.hint else "")
        return "signed out"
