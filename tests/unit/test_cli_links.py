"""``oauth-login login`` never opens (or prints) a sign-in link of a scheme other than https."""

from __future__ import annotations

import json
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest

from oauth_login import _api
from oauth_login._cli import main
from oauth_login._discovery import clear_cache
from oauth_login._transport import HTTPResponse
from tests.fake_provider import ISSUER, FakeProvider


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


@pytest.mark.parametrize("link", ["javascript:alert(1)", "smb://evil.example/share"])
def test_a_device_link_with_another_scheme_is_neither_opened_nor_printed(monkeypatch, capsys, link):
    provider = FakeProvider()

    def transport(self, method, url, *, headers=None, data=None):
        response = provider(method, url, headers=headers, data=data)
        if url.endswith("/device"):
            doc = {**json.loads(response.body), "verification_uri": link, "verification_uri_complete": link}
            return HTTPResponse(response.status, json.dumps(doc).encode())
        return response

    opened: list[str] = []
    monkeypatch.setattr("oauth_login._transport.RequestsTransport.__call__", transport)
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    monkeypatch.setenv("BROWSER", "true")  # a browser is there to open
    status = main(
        ["login", "--issuer", ISSUER, "--client-id", "cli", "--mode", "device", "--storage", "memory"]
    )
    out, err = capsys.readouterr()
    assert status == 1
    assert opened == []
    assert link not in out + err
    (line,) = err.strip().splitlines()
    assert "the provider sent" in line and link.split(":")[0] in line
