"""The ``oauth-login`` command: only ``token`` prints a secret, on stdout; messages go to stderr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oauth_login import _api
from oauth_login._cli import main
from oauth_login._credentials import Credentials
from oauth_login._discovery import clear_cache
from oauth_login._errors import LoginCancelledError
from oauth_login._stores import FileStore
from tests.fake_provider import ISSUER, FakeProvider

ACCESS = "at-CLI-SECRET-access"
REFRESH = "rt-CLI-SECRET-refresh"
ID_TOKEN = "id-CLI-SECRET-idtoken"


@pytest.fixture(autouse=True)
def _clean_api_state(oauth_env: Path) -> Iterator[None]:
    def reset() -> None:
        for client in _api._clients.values():
            client.cancel()
        _api._clients.clear()
        _api._current = None
        clear_cache()

    reset()
    yield
    reset()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the CLI went to the network")

    monkeypatch.setattr("oauth_login._transport.RequestsTransport.__call__", refuse)


def seed(*, expires_in: float, refresh_token: str | None = REFRESH) -> FileStore:
    store = FileStore()
    creds = Credentials(
        ACCESS,
        refresh_token,
        ISSUER,
        expires_in=expires_in,
        id_token=ID_TOKEN,
        claims={"sub": "u1", "email": "alice@example.com"},
    )
    store.save(
        "default",
        {
            "issuer": ISSUER,
            "client_id": "cli",
            "scopes": "openid offline_access",
            "credentials": creds.to_entry(),
        },
    )
    return store


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert "SECRET" not in text


def test_login_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["login", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--issuer",
        "--client-id",
        "--scopes",
        "--storage",
        "--mode",
        "--timeout",
        "--no-browser",
        "--redirect-uri",
        "--verbose",
    ):
        assert option in out
    assert "server" not in out.split("--mode", 1)[1].split("\n", 1)[0]  # not offered outside Jupyter


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_token_prints_the_bare_token_and_nothing_else(capfd, no_network):
    seed(expires_in=3600)
    assert main(["token"]) == 0
    out, err = capfd.readouterr()
    assert out == ACCESS + "\n"
    assert err == ""


def test_token_refreshes_an_expired_token_through_the_provider(capfd, monkeypatch):
    provider = FakeProvider()
    store = seed(expires_in=-10)
    provider.valid_refresh.add(REFRESH)
    monkeypatch.setattr("oauth_login._client.RequestsTransport", lambda **kwargs: provider)
    assert main(["token"]) == 0
    out, err = capfd.readouterr()
    token = out.strip()
    assert token.startswith("at-") and token != ACCESS
    assert out == token + "\n" and err == ""
    assert provider.requests["/token:refresh_token"] == 1
    assert store.load("default")["credentials"]["access_token"] == token  # kept for the next process


def test_status_prints_one_line_to_stdout_and_shows_no_token(capfd, no_network):
    seed(expires_in=3600)
    assert main(["status"]) == 0
    out, err = capfd.readouterr()
    assert err == ""
    assert out.startswith("signed in as alice@example.com")
    assert "expires in" in out
    assert_no_secret(out, err)


def test_logout_deletes_and_shows_no_secret(capfd, no_network):
    store = seed(expires_in=3600)
    assert main(["logout"]) == 0
    out, err = capfd.readouterr()
    assert out == ""
    assert err.strip() == "signed out"
    assert_no_secret(out, err)
    assert store.load("default") is None


def test_verbose_status_logs_no_secret(capfd, no_network, caplog):
    seed(expires_in=3600)
    assert main(["status", "-v"]) == 0
    out, err = capfd.readouterr()
    assert_no_secret(out, err, caplog.text)


def test_status_with_nothing_configured_says_nobody_is_signed_in_and_how_to(capfd):
    assert main(["status"]) == 0
    out, err = capfd.readouterr()
    assert err == ""
    assert out.count("\n") == 1
    assert out.startswith("not signed in")
    assert "no issuer" not in out
    assert "oauth-login login --issuer" in out  # how to sign in, in the terminal's own words


def test_token_and_logout_with_nothing_configured_say_nobody_is_signed_in(capfd):
    assert main(["token"]) == 1
    out, err = capfd.readouterr()
    assert out == ""  # token's stdout is for the token only
    assert err.count("\n") == 1 and err.startswith("oauth-login: not signed in"), err
    assert "no issuer" not in err and "oauth-login login --issuer" in err
    assert main(["logout"]) == 0
    out, err = capfd.readouterr()
    assert err.startswith("not signed in") and "no issuer" not in err, err


def test_a_real_configuration_error_is_not_reported_as_nobody_signed_in(capfd, monkeypatch):
    # A profile that exists but is broken must say what is wrong, not "not signed in".
    import oauth_login

    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", ISSUER)  # an issuer but no client id
    for command in (["token"], ["status"], ["logout"]):
        assert main(command) == 1
        _out, err = capfd.readouterr()
        assert "client" in err and "not signed in" not in err, (command, err)
    with pytest.raises(oauth_login.ConfigurationError):
        oauth_login.get_token()


def test_status_python_api_and_magic_agree_when_nothing_is_configured(capfd):
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    import oauth_login

    python_status = oauth_login.status()
    assert not python_status.signed_in
    assert str(python_status).startswith("not signed in")
    assert "oauth_login.login(" in str(python_status)
    ip = start_ipython() or get_ipython()  # one global test shell per process
    ip.run_line_magic("load_ext", "oauth_login")
    try:
        ip.run_line_magic("oauth_status", "")
    finally:
        ip.run_line_magic("unload_ext", "oauth_login")
    magic_line = capfd.readouterr().out.strip().splitlines()[-1]
    assert magic_line.startswith("not signed in")
    assert "%oauth_login --issuer" in magic_line
    assert main(["status"]) == 0
    cli_line = capfd.readouterr().out.strip()
    # The same words, each with the way to sign in that fits where it is shown.
    assert {line.split(" (", 1)[0] for line in (str(python_status), magic_line, cli_line)} == {
        python_status.message
    }


def test_status_of_a_named_unknown_profile_is_still_an_error(capfd):
    assert main(["status", "office"]) == 1
    assert capfd.readouterr().err.startswith("oauth-login: no profile named 'office'")


def test_status_with_half_a_configuration_still_names_what_is_missing(capfd, monkeypatch):
    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", ISSUER)
    assert main(["status"]) == 1
    assert "client id" in capfd.readouterr().err


def test_token_when_not_signed_in_exits_1_with_one_line(capfd, no_network):
    assert main(["token", "--issuer", ISSUER, "--client-id", "cli"]) == 1
    out, err = capfd.readouterr()
    assert out == ""
    assert err.startswith("oauth-login: not signed in")
    assert err.count("\n") == 1


def test_expired_session_exits_1_without_secrets(capfd, monkeypatch):
    provider = FakeProvider()  # does not know REFRESH: invalid_grant
    seed(expires_in=-10)
    monkeypatch.setattr("oauth_login._client.RequestsTransport", lambda **kwargs: provider)
    assert main(["token"]) == 1
    out, err = capfd.readouterr()
    assert out == ""
    assert err.startswith("oauth-login: invalid_grant")
    assert "sign in again" in err
    assert err.count("\n") == 1
    assert_no_secret(out, err)


def test_unknown_profile_exits_1_and_names_it(capfd, oauth_env):
    (oauth_env / "profiles.toml").write_text('[profiles.work]\nissuer = "https://w"\nclient_id = "w"\n')
    assert main(["status", "office"]) == 1
    err = capfd.readouterr().err
    assert err.startswith("oauth-login: no profile named 'office'")
    assert err.count("\n") == 1


# --- Ctrl-C: each window where a SIGINT can land, provoked on purpose ---------------------------


@pytest.fixture
def fake_login(monkeypatch, oauth_env):
    """`oauth-login login` against the fake provider; attempts started are collected in order."""
    from oauth_login._login import LoginAttempt

    provider = FakeProvider()
    monkeypatch.setattr("oauth_login._client.RequestsTransport", lambda **kwargs: provider)
    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", ISSUER)
    monkeypatch.setenv("OAUTH_LOGIN_CLIENT_ID", "cli")
    attempts: list[LoginAttempt] = []
    original_start = LoginAttempt._start

    def start(self, target):
        attempts.append(self)  # before the thread runs: a test's hook in that thread may look for it
        original_start(self, target)

    monkeypatch.setattr(LoginAttempt, "_start", start)
    return provider, attempts


def port_is_free(link: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", urlsplit(link).port)) != 0


def test_ctrl_c_before_the_main_thread_waits_still_cancels_the_attempt(fake_login, monkeypatch, capfd):
    import signal

    from oauth_login._login import LoginAttempt

    _provider, attempts = fake_login
    started = LoginAttempt._start

    def start_then_interrupt(self, target):
        started(self, target)
        signal.raise_signal(signal.SIGINT)  # lands before login() reaches attempt.wait()

    monkeypatch.setattr(LoginAttempt, "_start", start_then_interrupt)
    assert main(["login", "--no-browser"]) == 130
    (attempt,) = attempts
    assert attempt.cancelled.is_set(), "the attempt was left running after Ctrl-C"
    assert attempt._done.wait(10), "the cancelled attempt did not end"
    assert "cancelled" in capfd.readouterr().err
    if attempt.link:
        assert port_is_free(attempt.link)


def test_ctrl_c_before_the_receiver_is_attached_ends_the_attempt(fake_login, monkeypatch, capfd):
    import signal
    import threading

    from oauth_login._loopback import LoopbackReceiver

    _provider, attempts = fake_login
    receivers: list[LoopbackReceiver] = []

    class InterruptedWhileBinding(LoopbackReceiver):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            receivers.append(self)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            # The main thread cancels while this receiver is bound but not yet the attempt's.
            assert attempts[0].cancelled.wait(10), "Ctrl-C did not cancel the attempt"

    monkeypatch.setattr("oauth_login._login.LoopbackReceiver", InterruptedWhileBinding)
    assert main(["login", "--no-browser"]) == 130
    (attempt,) = attempts
    assert attempt._done.wait(10), "the attempt did not notice the cancel"
    assert isinstance(attempt._error, LoginCancelledError)
    assert receivers[0]._closed and port_is_free(receivers[0].redirect_uri)
    assert "To sign in" not in capfd.readouterr().err  # no link for a cancelled attempt


def test_ctrl_c_during_the_code_exchange_does_not_wait_for_the_provider(fake_login, monkeypatch, capfd):
    import signal
    import threading
    import webbrowser

    from oauth_login import _login

    provider, attempts = fake_login
    release, finished = threading.Event(), threading.Event()

    def blocking_transport(method, url, **kwargs):
        if url.endswith("/token"):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            release.wait(10)  # a provider that takes its time
            finished.set()
        return provider(method, url, **kwargs)

    monkeypatch.setattr("oauth_login._client.RequestsTransport", lambda **kwargs: blocking_transport)
    monkeypatch.setattr(_login, "CANCEL_GRACE_SECONDS", 0.2, raising=False)
    monkeypatch.setenv("BROWSER", "the-fake-provider")
    browsing: list[threading.Thread] = []

    def open_in_fake_browser(link, *args, **kwargs):
        browsing.append(threading.Thread(target=provider.browse, args=(link,), daemon=True))
        browsing[-1].start()
        return True

    monkeypatch.setattr(webbrowser, "open", open_in_fake_browser)
    try:
        assert main(["login"]) == 130
        assert not finished.is_set(), "Ctrl-C waited for the token request to finish"
    finally:
        release.set()
    (attempt,) = attempts
    assert attempt._done.wait(10)
    assert isinstance(attempt._error, LoginCancelledError)  # tokens that came after Ctrl-C are dropped
    assert FileStore().load("default") is None


def test_ctrl_c_works_even_when_started_with_sigint_ignored(monkeypatch):
    """A background job of a non-interactive shell (`make test &` in a CI script) starts with SIGINT
    ignored; `oauth-login` waits for a person and must still stop on Ctrl-C / kill -INT."""
    import signal

    from oauth_login import _cli

    seen = []
    monkeypatch.setattr(_cli, "_run", lambda args: seen.append(signal.getsignal(signal.SIGINT)) or 0)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main(["status"]) == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # an in-process caller gets it back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.default_int_handler]
