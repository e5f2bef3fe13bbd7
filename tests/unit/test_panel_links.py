"""The panel shows and links only links a browser may open: https, http on this computer, server paths."""

from __future__ import annotations

import pytest

from oauth_login import _status as st
from oauth_login._status import LoginStatus
from tests.fake_provider import ISSUER, FakeProvider
from tests.unit.test_panel import make_panel, stored_login


def waiting(link: str) -> LoginStatus:
    return LoginStatus(st.WAITING, "default", ISSUER, mode="device", link=link, user_code="WDJB-MJHT")


@pytest.fixture
def panel(monkeypatch):
    panel, client = make_panel(FakeProvider(), stored_login())  # signed in: nothing is prepared
    yield panel, client
    panel.close()


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "smb://evil.example/share",
        "file:///etc/passwd",
        "http://idp.example.com/device",  # plain http to another computer
        "//evil.example/start/x",
        "/\\evil.example/start/x",
    ],
)
def test_an_unsafe_link_never_reaches_the_front_end_or_the_html_fallback(panel, monkeypatch, link):
    widget, client = panel
    status = waiting(link)
    widget._show(status)
    assert widget.links == []  # nothing sent: the front end holds no link, as before
    assert not widget.link_ready
    widget._on_message(widget, {"type": "hello"}, [])
    assert widget.links == [""]
    monkeypatch.setattr(client, "status", lambda: status)
    _, html_text = widget._fallback()
    assert "href" not in html_text


@pytest.mark.parametrize(
    "link",
    [
        "https://idp.example.com/device?user_code=WDJB-MJHT",
        "http://127.0.0.1:4000/start/x",
        "/user/a/oauth-login/start/x",
    ],
)
def test_safe_links_reach_the_front_end_that_opens_them(panel, link):
    widget, _ = panel
    widget._show(waiting(link))
    assert widget.links == [link]
    assert widget.link_ready
    assert link not in str(widget.get_state())
