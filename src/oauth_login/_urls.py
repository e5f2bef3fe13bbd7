"""Checks on URLs that come from outside: is a host this computer, may a link be opened or fetched."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "is_secure_url", "link_problem", "may_show_link"]


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``127.x.y.z`` or ``::1`` (brackets allowed): a name for this computer only."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def link_problem(url: str) -> str | None:
    """Why ``url`` must not be opened, fetched or rendered as a link, or ``None`` when it may be.

    Only ``https://`` is accepted, and ``http://`` for this computer (a development provider, our own
    loopback receiver): any other scheme (``javascript:``, ``file:``, ``smb:``...) could run script in
    a page or reach out of the browser, and plain http off this computer can be read and changed
    on the way.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return "it is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        return f"its scheme is {scheme + ':' if scheme else 'missing'}, not https:"
    if not host:
        return "it names no host"
    if scheme == "http" and not is_loopback_host(host):
        return "it is plain http to another computer"
    return None


def is_secure_url(url: str) -> bool:
    """``https://`` anywhere, ``http://`` only on this computer."""
    return link_problem(url) is None


def may_show_link(link: str) -> bool:
    """Whether a UI may render ``link`` as something to click: a secure URL, or a path on the same
    server (the relay's start path). ``//host``, ``/\\host`` and control characters are read by
    browsers as another host, so they are not paths.
    """
    if link.startswith("/"):
        return not link.startswith("//") and "\\" not in link and all(c > " " for c in link)
    return is_secure_url(link)
