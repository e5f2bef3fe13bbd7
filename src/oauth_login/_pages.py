"""The small HTML pages our receivers show in the browser, and the security headers they all send."""

from __future__ import annotations

import html

__all__ = ["SECURITY_HEADERS", "page"]

SECURITY_HEADERS: dict[str, str] = {
    # No scripts, no third-party anything: the page only shows text and our inline style.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em;color:#222}}
h1{{font-size:1.3em}} .ok{{color:#1a7f37}} .bad{{color:#b42318}} p.detail{{color:#555}}</style>
</head><body><h1 class="{css}">{title}</h1><p>{message}</p>{detail}</body></html>
"""


def page(title: str, message: str, *, ok: bool, detail: str | None = None) -> bytes:
    """A complete page; every argument is escaped (``detail`` may come from an attacker)."""
    detail_html = f'<p class="detail">{html.escape(detail)}</p>' if detail else ""
    return _TEMPLATE.format(
        title=html.escape(title),
        message=html.escape(message),
        detail=detail_html,
        css="ok" if ok else "bad",
    ).encode("utf-8")


SIGNED_IN = page(
    "Signed in", "You are signed in. You can close this tab and return to your notebook or terminal.", ok=True
)
RECEIVED = page(
    "Sign-in received",
    "Your notebook is finishing the sign-in. You can close this tab; the notebook shows the result.",
    ok=True,
)
NOT_FOUND = page("Not found", "There is nothing here.", ok=False)
BAD_REQUEST = page("Bad request", "This server only accepts the sign-in redirect.", ok=False)
STALE = page(
    "This sign-in link is not valid",
    "It was already used or belongs to another sign-in attempt. Start the sign-in again.",
    ok=False,
)

LINK_REUSED = page(
    "This sign-in link was already used",
    "A sign-in link works once. It was opened again, so this sign-in was cancelled in case someone "
    "else has the link. Start the sign-in again from your notebook or terminal.",
    ok=False,
)


def failure(error: str, description: str | None) -> bytes:
    return page("Sign-in failed", f"The provider answered: {error}", ok=False, detail=description)
