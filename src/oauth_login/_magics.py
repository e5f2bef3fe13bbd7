"""IPython magics: ``%oauth_login``, ``%oauth_status``, ``%oauth_logout``.

Importing this is cheap (IPython is already loaded in a kernel); the widget stack is imported by
``%oauth_login`` when it first runs.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, CFloat, Enum, Unicode

from ._profiles import MODES

__all__ = ["OAuthMagics"]

# How long %oauth_login waits for the panel's sign-in link before showing it (discovery, a free port).
READY_SECONDS = 3.0


def parse_line(magic: Callable[..., Any], line: str) -> argparse.Namespace:
    """The magic's arguments, split as a POSIX shell would: ``--scopes "openid profile"`` is one value.

    IPython's own ``parse_argstring`` splits in non-POSIX mode and keeps the quote characters, so a
    provider would receive ``"openid`` as a scope. A bad quote, like any bad argument, is a one-line
    ``UsageError``.
    """
    try:
        argv = shlex.split(line, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UsageError(
            f"{str(exc).lower()} in: {line.strip()} (close each quote: \"...\" or '...')"
        ) from None
    parsed: argparse.Namespace = magic.parser.parse_args(argv)  # type: ignore[attr-defined]
    return parsed


@magics_class
class OAuthMagics(Magics):
    """Sign in from a notebook. Defaults are configurable, e.g. ``c.OAuthMagics.default_mode = "device"``."""

    default_profile = Unicode("", help="profile used when %oauth_login names none").tag(config=True)
    default_mode = Enum(MODES, "auto", help="how the browser hands back the code").tag(config=True)
    default_timeout = CFloat(300.0, help="seconds to wait for the browser once Sign in is clicked").tag(
        config=True
    )
    default_scopes = Unicode("", help="scopes when neither --scopes nor the profile give any").tag(
        config=True
    )
    open_popup = Bool(True, help="open the provider in a pop-up window (False: show a link)").tag(config=True)

    @magic_arguments()
    @argument(
        "profile", nargs="?", default=None, help="a profile from the profiles file (default: 'default')"
    )
    @argument("--issuer", help="the provider's issuer URL, e.g. https://idp.example.com")
    @argument("--client-id", help="the OAuth client id registered at the provider")
    @argument("--scopes", help='space-separated scopes, e.g. "openid profile offline_access"')
    @argument("--mode", choices=MODES, help="auto (default), loopback, server, device or paste")
    @argument("--timeout", type=float, help="seconds to wait for the browser after Sign in (default 300)")
    @argument("--no-browser", action="store_true", help="show a link instead of opening a pop-up window")
    @line_magic
    def oauth_login(self, line: str) -> None:
        """Show a login panel: Sign in, live status, Cancel, Sign out. The cell returns at once.

        Later cells use the login with ``oauth_login.get_token()``, ``auth()`` or ``session()``;
        ``get_token()`` waits (bounded) for a sign-in that is in progress.
        """
        args = parse_line(self.oauth_login, line)  # a bad argument raises a one-line UsageError
        from IPython.display import display

        try:
            from ._panel import LoginButton
        except ImportError as exc:  # anywidget / ipywidgets are the optional "jupyter" extra
            from ._errors import ConfigurationError

            raise ConfigurationError(
                f"the login panel needs {exc.name or 'anywidget'}, which is not installed in this kernel",
                hint='pip install "oauth-login[jupyter]" in the kernel\'s environment, then restart it',
            ) from exc

        settings = {"issuer": args.issuer, "client_id": args.client_id, "scopes": args.scopes}
        if not args.scopes and self.default_scopes:
            settings["scopes"] = self.default_scopes
        panel = LoginButton(
            args.profile or self.default_profile or None,
            mode=args.mode or (None if self.default_mode == "auto" else self.default_mode),
            timeout=args.timeout or self.default_timeout,
            open_popup=self.open_popup and not args.no_browser,
            **{k: v for k, v in settings.items() if v},
        )
        panel.wait_ready(READY_SECONDS)
        display(panel)

    @magic_arguments()
    @argument("profile", nargs="?", default=None, help="profile name (default: the current one)")
    @line_magic
    def oauth_status(self, line: str) -> None:
        """Print who is signed in and until when (reads the store; no network, no secret)."""
        from . import _api

        args = parse_line(self.oauth_status, line)
        hint = "to sign in: %oauth_login --issuer URL --client-id ID, or name a profile"
        print(_api.status_or_nobody(args.profile or self.default_profile or None, hint))

    @magic_arguments()
    @argument("profile", nargs="?", default=None, help="profile name (default: the current one)")
    @argument("--revoke", action="store_true", help="also revoke the tokens at the provider (RFC 7009)")
    @line_magic
    def oauth_logout(self, line: str) -> None:
        """Sign out: forget the stored tokens (and revoke them at the provider with --revoke)."""
        from . import _api

        args = parse_line(self.oauth_logout, line)
        revoked = _api.logout(args.profile or self.default_profile or None, revoke=args.revoke)
        print("signed out" + (" and revoked the tokens" if revoked else ""))
