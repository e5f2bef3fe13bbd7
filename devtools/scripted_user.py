"""A user without a browser: walks the dev provider's sign-in and consent forms with plain HTTP.

For benchmarks, where a real browser rendering pages at the same moment would make timings noise.
It stops at the redirect back to the client and returns that URL instead of following it.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

__all__ = ["authorize"]

_FORM_ACTION = r'<form id="{form}" method="post" action="([^"]+)"'


def authorize(url: str, *, stop_prefix: str, username: str = "alice", password: str = "alice-pw") -> str:
    """Follow ``url`` through the provider's pages; return the redirect that starts with ``stop_prefix``."""
    with requests.Session() as session:
        for _ in range(20):
            if url.startswith(stop_prefix):
                return url
            response = session.get(url, allow_redirects=False, timeout=30)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                continue
            page = response.text
            if login := re.search(_FORM_ACTION.format(form="login-form"), page):
                form, data = login.group(1), {"login": username, "password": password}
            elif consent := re.search(_FORM_ACTION.format(form="consent-form"), page):
                form, data = consent.group(1), {"decision": "allow"}
            else:
                raise RuntimeError(f"unexpected page at {url} (HTTP {response.status_code})")
            posted = session.post(urljoin(url, form), data=data, allow_redirects=False, timeout=30)
            url = urljoin(url, posted.headers["Location"])
    raise RuntimeError("too many steps without reaching the client's redirect URI")
