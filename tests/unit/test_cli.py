"""The ``oauth-login`` command: only ``token`` prints a secret, on stdout; messages go to stderr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oauth_login import _api
from oauth_login._cli import main
from oauth_login._credentials import Credentials
from oauth_login._discovery import clear_cache
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


def test_nothing_configured_exits_1_with_one_line(capfd):
    assert main(["status"]) == 1
    out, err = capfd.readouterr()
    assert out == ""
    assert err.startswith("oauth-login: ")
    assert err.count("\n") == 1
    assert "issuer" in err


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
