"""The ``oauth-login`` command: ``login``, ``status``, ``token``, ``logout``.

Only ``token`` prints a secret (the bare access token, for ``$(oauth-login token)``). ``status``
prints its one line to stdout; every other message goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from ._profiles import MODES

__all__ = ["main"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", nargs="?", help="profile name from the profiles file (default: 'default')")
    parser.add_argument("--issuer", help="the provider's issuer URL (or OAUTH_LOGIN_ISSUER)")
    parser.add_argument("--client-id", help="the OAuth client id (or OAUTH_LOGIN_CLIENT_ID)")
    parser.add_argument("--scopes", help='space-separated scopes, e.g. "openid profile offline_access"')
    parser.add_argument(
        "--storage",
        choices=("auto", "keyring", "file", "memory"),
        help="where tokens are kept (or OAUTH_LOGIN_STORAGE; default auto)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (never secrets)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oauth-login", description="Sign in to an OAuth 2.0 / OpenID Connect provider."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{login,status,token,logout}")
    login = sub.add_parser("login", help="sign in (opens the browser) and keep the tokens")
    _common(login)
    login.add_argument(
        "--mode", choices=[m for m in MODES if m != "server"], help="how the browser hands back the code"
    )
    login.add_argument("--timeout", type=float, help="seconds to wait for the browser (default 300)")
    login.add_argument(
        "--no-browser", action="store_true", help="print the link instead of opening a browser"
    )
    login.add_argument(
        "--redirect-uri", help="a registered loopback redirect URI, e.g. http://127.0.0.1:8765/callback"
    )
    status = sub.add_parser("status", help="who is signed in, and until when")
    _common(status)
    token = sub.add_parser("token", help="print a valid access token (refreshed if needed)")
    _common(token)
    logout = sub.add_parser("logout", help="delete the stored tokens")
    _common(logout)
    logout.add_argument("--revoke", action="store_true", help="also revoke them at the provider (RFC 7009)")
    return parser


def _one_line_warning(
    message: Warning | str, category: type[Warning], *args: object, **kwargs: object
) -> None:
    print(f"oauth-login: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # a terminal user wants one line, not our source line
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from . import _api
    from ._errors import OAuthLoginError

    settings = {"issuer": args.issuer, "client_id": args.client_id, "scopes": args.scopes}
    if args.command == "login" and args.redirect_uri:
        settings["redirect_uri"] = args.redirect_uri
    settings = {k: v for k, v in settings.items() if v}
    try:
        client = _api.client(args.profile, storage=args.storage, **settings)
        if args.command == "login" and client.store.notice:
            print(f"oauth-login: {client.store.notice}", file=sys.stderr)
        if args.command == "login":
            creds = client.login(mode=args.mode, timeout=args.timeout, open_browser=not args.no_browser)
            print(f"signed in as {creds.account} ({client.status().expires_in_text()})", file=sys.stderr)
        elif args.command == "status":
            print(client.status())
        elif args.command == "token":
            print(client.get_token())
        else:
            revoked = client.logout(revoke=args.revoke)
            print("signed out" + (" and revoked the tokens" if revoked else ""), file=sys.stderr)
    except OAuthLoginError as exc:
        print(f"oauth-login: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("oauth-login: cancelled", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
