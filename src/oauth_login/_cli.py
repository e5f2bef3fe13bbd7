"""The ``oauth-login`` command: ``login``, ``status``, ``token``, ``logout``.

Only ``token`` prints a secret (the bare access token, for ``$(oauth-login token)``). ``status``
prints its one line to stdout; every other message goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from ._profiles import MODES

__all__ = ["main"]

_SIGN_IN_HINT = (
    "to sign in: oauth-login login --issuer URL --client-id ID, or set OAUTH_LOGIN_ISSUER and "
    "OAUTH_LOGIN_CLIENT_ID, or name a profile"
)


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
    # A process started with SIGINT ignored (a background job of a non-interactive shell, such as
    # `make test &` in a CI script) inherits SIG_IGN, and Python then never raises KeyboardInterrupt:
    # Ctrl-C or `kill -INT` would be lost while `login` waits for a person. Ctrl-C always cancels here.
    ignored = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    )
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning  # a terminal user wants one line, not our source line
            return _run(args)
    finally:
        if ignored:  # give an in-process caller its own setting back
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(args: argparse.Namespace) -> int:
    from . import _api
    from ._errors import ConfigurationError, NotSignedInError, OAuthLoginError

    settings = {"issuer": args.issuer, "client_id": args.client_id, "scopes": args.scopes}
    if args.command == "login" and args.redirect_uri:
        settings["redirect_uri"] = args.redirect_uri
    settings = {k: v for k, v in settings.items() if v}
    try:
        if args.command == "status" and not settings and args.storage is None:
            print(_api.status_or_nobody(args.profile, _SIGN_IN_HINT))
            return 0
        try:
            client = _api.client(args.profile, storage=args.storage, **settings)
        except ConfigurationError:
            # Nothing configured and nothing stored: nobody is signed in, which is no broken setting.
            if args.command == "login" or settings or not _api.nothing_configured(args.profile):
                raise
            if args.command == "logout":
                print(_api.NOT_SIGNED_IN, file=sys.stderr)  # nothing to sign out of: not an error
                return 0
            raise NotSignedInError(_api.NOT_SIGNED_IN, hint=_SIGN_IN_HINT) from None
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
