"""The last-resort receiver: the user pastes the address the browser ended on; nothing is echoed."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from ._errors import CallbackError

__all__ = ["read_pasted_redirect"]


def read_pasted_redirect(
    redirect_uri: str, *, read: Callable[[str], str] = getpass.getpass
) -> dict[str, str]:
    """The query parameters of the pasted address, which must start with ``redirect_uri``."""
    pasted = read("Paste the full address your browser shows after signing in (hidden): ").strip()
    expected, got = urlsplit(redirect_uri), urlsplit(pasted)
    if (got.scheme, got.netloc, got.path) != (expected.scheme, expected.netloc, expected.path):
        raise CallbackError(
            "the pasted address is not the redirect address of this sign-in",
            hint=f"paste the whole address that starts with {redirect_uri}",
        )
    return dict(parse_qsl(got.query, keep_blank_values=True))
