"""The login panel's Python side: state transitions, messages, fallback display, no secret in any trait."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth_login import Credentials, _panel
from oauth_login._client import OAuthClient
from oauth_login._panel import LoginButton
from oauth_login._profiles import Profile
from oauth_login._stores import MemoryStore
from tests.fake_provider import ISSUER, FakeProvider


class TraitLog:
    """Every value every synced trait of a widget ever took, and the widget's whole state at each change."""

    def __init__(self, widget) -> None:
        self.values: list[tuple[str, object]] = [(n, getattr(widget, n)) for n in widget.keys]
        self.states: list[str] = [self._state(widget)]
        self.changed = threading.Condition()
        widget.observe(self._record, names=list(widget.keys))

    @staticmethod
    def _state(widget) -> str:
        # What the front end holds and JupyterLab saves with "Save Widget State" (the ES module and
        # its CSS are code, not state of this sign-in).
        return repr({k: v for k, v in widget.get_state().items() if k not in ("_esm", "_css")})

    def _record(self, change) -> None:
        with self.changed:
            self.values.append((change["name"], change["new"]))
            self.states.append(self._state(change["owner"]))
            self.changed.notify_all()

    def wait_for(self, widget, predicate, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(widget), timeout), self.values[-5:]

    def text(self) -> str:
        return "\n".join(f"{n}={v!r}" for n, v in self.values) + "\n".join(self.states)


class RecordingButton(LoginButton):
    """A panel that keeps every custom message it sends to the front end: what widget.js receives."""

    def __init__(self, *args, **kwargs) -> None:
        self.messages: list[dict] = []
        self.messages_changed = threading.Condition()
        super().__init__(*args, **kwargs)

    def send(self, content, buffers=None) -> None:
        with self.messages_changed:
            self.messages.append(content)
            self.messages_changed.notify_all()
        super().send(content, buffers)

    @property
    def links(self) -> list[str]:
        """Every link message so far ("" withdraws the link)."""
        with self.messages_changed:
            return [m["url"] for m in self.messages if m.get("type") == "link"]

    @property
    def link(self) -> str:
        """The link the front end holds now: the last one the kernel sent ("" when none)."""
        links = self.links
        return links[-1] if links else ""

    def wait_for_link(self, predicate=bool, timeout: float = 10.0) -> str:
        """Wait (bounded) until the front end's link satisfies ``predicate``; return it."""
        with self.messages_changed:
            assert self.messages_changed.wait_for(lambda: predicate(self.link), timeout), self.messages[-5:]
        return self.link

    def wait_for_links(self, predicate, timeout: float = 10.0) -> list[str]:
        with self.messages_changed:
            assert self.messages_changed.wait_for(lambda: predicate(self.links), timeout), self.messages[-8:]
        return self.links


_opened: list = []  # (panel, client) made by this test, closed after it


def make_panel(provider: FakeProvider, store=None, **kwargs) -> tuple[RecordingButton, OAuthClient]:
    client = OAuthClient(
        Profile(issuer=ISSUER, client_id="nb"), store=store or MemoryStore(), request=provider
    )
    panel = RecordingButton(client=client, **kwargs)
    _opened.append((panel, client))
    return panel, client


@pytest.fixture(autouse=True)
def _close_panels():
    """Every panel a test makes is closed after it: no receiver, port or thread outlives the test."""
    yield
    while _opened:
        panel, client = _opened.pop()
        panel.close()
        attempt = client.attempt
        if attempt is not None:
            attempt.cancel()
            attempt.join()
        assert panel.join(10), "the panel's background threads did not end"
        assert client.attempt is None


def follow_start(start_url: str) -> str:
    """Open the start URL like the browser would, without following the redirect: the provider URL."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.build_opener(NoRedirect()).open(start_url, timeout=10)
    with info.value as answer:
        assert answer.code == 302
        return answer.headers["Location"]


def stored_login(**claims: str) -> MemoryStore:
    """A store holding a valid login of client "nb", as an earlier sign-in leaves it."""
    store = MemoryStore()
    creds = Credentials("at-stored", "rt", ISSUER, expires_in=3600, claims=claims)
    store.save(
        "default", {"issuer": ISSUER, "client_id": "nb", "scopes": "openid", "credentials": creds.to_entry()}
    )
    return store


def test_a_stored_valid_token_shows_signed_in_at_once_without_network_or_link():
    provider = FakeProvider()
    store = stored_login(email="alice@example.com")
    panel, client = make_panel(provider, store)
    assert panel.state == "signed_in"
    assert panel.account == "alice@example.com"
    assert panel.expires_at > 0
    assert panel.link == "" and not panel.link_ready
    assert client.attempt is None
    assert sum(provider.requests.values()) == 0


def test_sign_in_flow_moves_through_the_states_and_no_trait_ever_holds_a_secret():
    provider = FakeProvider()
    panel, client = make_panel(provider)
    log = TraitLog(panel)
    assert panel.wait_ready(10)
    assert panel.state == "signed_out"
    assert panel.link.startswith("http://127.0.0.1:")
    assert panel.link_ready
    assert panel.mode == "loopback"
    first = panel.link
    authorize = follow_start(first)  # the click: the link is spent, the browser is on its way
    log.wait_for(panel, lambda w: w.state == "waiting")
    # A fresh link for the same attempt is there at once (a closed pop-up, a busy kernel).
    second = panel.wait_for_link(lambda link: link not in ("", first))
    assert follow_start(second) == authorize
    back = provider.authorize(authorize)  # the user signs in; the provider sends the browser back
    code, state = (parse_qs(urlsplit(back).query)[name][0] for name in ("code", "state"))
    with urllib.request.urlopen(back, timeout=10):
        pass
    log.wait_for(panel, lambda w: w.state == "signed_in")
    assert panel.wait_for_link(lambda link: link == "") == ""  # signed in: the front end holds no link
    assert not panel.link_ready
    creds = client._creds
    verifier = next(b["code_verifier"] for b in provider.bodies if "code_verifier" in b)
    secrets = [creds.access_token, creds.refresh_token, code, state, verifier, first, second]
    everything = log.text() + repr(panel) + str(panel._repr_mimebundle_())
    for secret in secrets:
        assert secret not in everything


@pytest.mark.parametrize("mode", ["loopback", "device", "paste"])
def test_no_synced_trait_ever_holds_the_live_link(monkeypatch, mode):
    """Issue 7: the widget state (every synced trait, what JupyterLab saves into the .ipynb with "Save
    Widget State") never holds the live link: prepared, opened, renewed, in every mode. In device
    mode the link is ``verification_uri_complete``; in paste mode the provider's URL with ``state``."""
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending"] * 1000
    panel, client = make_panel(provider, mode=mode)
    log = TraitLog(panel)
    links: list[str] = []
    attempts: list[object] = []
    changed = threading.Condition()
    unsubscribe = client.subscribe(lambda _status: _notify(changed))

    def next_link(*, new_attempt: bool) -> None:
        """Wait for the client's own status (which the panel mirrors) to show the next link."""

        def there() -> bool:
            link, attempt = client.status().link, client.attempt
            if not link or (link in links and not (mode == "device" and attempt not in attempts)):
                return False  # a device link may repeat: the provider's page with the same code
            return not new_attempt or attempt not in attempts

        with changed:
            assert changed.wait_for(there, 10), links
            links.append(client.status().link or "")
            attempts.append(client.attempt)

    next_link(new_attempt=True)
    if mode == "loopback":
        follow_start(links[0])  # opened: the next link of the same attempt is published
        next_link(new_attempt=False)
        assert panel.state == "waiting"
        monkeypatch.setattr(_panel, "IDLE_SECONDS", 0.3)  # the next link expires unopened at once
    client.cancel()  # renewed after a cancel: a new attempt (and receiver)
    panel.prepare()
    next_link(new_attempt=True)
    if mode == "loopback":
        next_link(new_attempt=True)  # renewed unopened (the idle expiry): another attempt, another link
    unsubscribe()
    if mode == "device":
        assert panel.user_code == "ABCD-EFGH"  # the code is meant to be shown; the link is not a trait
        assert all("user_code=" in link for link in links)
    if mode == "paste":
        assert all("state=" in link for link in links)
    states = [*log.states, TraitLog._state(panel)]
    for link in links:
        assert link not in log.text()
        assert not any(link in state for state in states)
    assert not any("/start/" in state or "user_code=" in state or "state=" in state for state in states)
    assert panel.link_ready  # what the button needs to know: a link is ready


def _notify(condition: threading.Condition) -> None:
    with condition:
        condition.notify_all()


def test_the_link_message_is_sent_repeated_and_then_stops(monkeypatch):
    """A front end still loading the panel's module while a cell runs gets the link from a repeat."""
    monkeypatch.setattr(_panel, "RESEND_AFTER", (0.01, 0.02, 0.03))
    panel, _ = make_panel(FakeProvider())
    link = panel.wait_for_link()
    assert panel.join_resends(10), "the link is resent a bounded number of times, then no more"
    assert panel.links == [link] * 4
    assert panel.link_ready


def test_a_new_link_cancels_the_old_links_repeats(monkeypatch):
    monkeypatch.setattr(_panel, "RESEND_AFTER", (0.01, 60.0))
    panel, _ = make_panel(FakeProvider())
    first = panel.wait_for_link()
    panel.wait_for_links(lambda links: links.count(first) == 2)  # the quick repeat went out
    panel._on_message(panel, {"type": "cancel"}, [])
    second = panel.wait_for_link(lambda link: link not in ("", first))
    panel.wait_for_links(lambda links: links.count(second) == 2)
    panel.close()
    assert panel.join_resends(10), "closing the panel ends the repeats (the next was due in a minute)"
    links = panel.links
    assert links.count(first) == 2  # its one-minute repeat never came
    assert first not in links[links.index(second) :]


def test_a_closed_panel_stops_resending(monkeypatch):
    monkeypatch.setattr(_panel, "RESEND_AFTER", (60.0,))
    panel, _ = make_panel(FakeProvider())
    link = panel.wait_for_link()
    panel.close()
    assert panel.join_resends(10), "the repeat due in a minute was cancelled by close()"
    assert panel.links == [link]
    panel._on_message(panel, {"type": "hello"}, [])  # a late message after close sends nothing
    assert panel.links == [link]


def test_hello_gets_the_current_link(monkeypatch):
    """The front end says hello from ``initialize`` (a page opened or reloaded): it gets the link once
    the kernel is idle; a signed-in panel answers that there is none."""
    monkeypatch.setattr(_panel, "RESEND_AFTER", ())
    panel, _ = make_panel(FakeProvider())
    link = panel.wait_for_link()
    assert panel.links == [link]
    panel._on_message(panel, {"type": "hello"}, [])
    assert panel.links == [link, link]
    signed_in, _ = make_panel(FakeProvider(), stored_login())
    signed_in._on_message(signed_in, {"type": "hello"}, [])
    assert signed_in.messages == [{"type": "link", "url": ""}]


def test_the_saved_outputs_status_and_reprs_hold_no_live_link():
    # BUG (B7): the fallback text/html and text/plain (saved into the .ipynb), str(status) (what
    # %oauth_status prints) and the status's repr all carried the live start link.
    panel, client = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    link = panel.link
    assert link.startswith("http://127.0.0.1:")  # the button's link is there ...
    data, _meta = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    status = client.status()
    shown = [
        data["text/plain"],
        data["text/html"],
        str(status),
        repr(status),
        repr(panel),
        str(panel.get_state()),
    ]
    for text in shown:
        assert link not in text and "/start/" not in text  # ... and nowhere else
    assert "signed out" in data["text/plain"]
    # Where no widget shows: how to sign in instead, by ways that print no live link.
    assert "%oauth_login --mode device" in data["text/html"] and "oauth-login login" in data["text/html"]
    assert "signed out" in str(status) and "panel" in str(status)


def test_a_used_link_opened_again_cancels_with_an_error():
    """B7: whoever opened the link first (it leaked) must not sign this kernel in."""
    provider = FakeProvider()
    panel, client = make_panel(provider)
    log = TraitLog(panel)
    assert panel.wait_ready(10)
    first = panel.link
    authorize = follow_start(first)
    log.wait_for(panel, lambda w: w.state == "waiting")
    with pytest.raises(AssertionError, match="410"):
        follow_start(first)
    log.wait_for(panel, lambda w: w.state == "error")
    assert "opened twice" in panel.message
    assert "Sign in" in panel.hint
    assert panel.wait_for_link(lambda link: link == "") == ""
    assert not panel.link_ready
    # The sign-in that the first opening began can no longer land here.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(provider.authorize(authorize), timeout=10)
    assert client.status().state == "error"
    assert not any("code" in body for body in provider.bodies)


def test_sign_out_message_logs_out_and_prepares_a_new_link():
    provider = FakeProvider()
    store = stored_login()
    panel, _ = make_panel(provider, store)
    log = TraitLog(panel)
    assert panel.state == "signed_in"
    panel._on_message(panel, {"type": "sign_out"}, [])
    log.wait_for(panel, lambda w: w.state == "signed_out" and w.link_ready)
    assert panel.link.startswith("http://127.0.0.1:")
    assert store.load("default") is None


def test_cancel_message_replaces_the_link():
    panel, _ = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    first = panel.link
    old_port = urlsplit(first).port
    panel._on_message(panel, {"type": "cancel"}, [])
    new = panel.wait_for_link(lambda link: link not in ("", first))
    # The old link is dead because its receiver is gone: nothing listens on its port any more (a
    # URLError from following the link would also come from a live link's redirect to the provider).
    assert urlsplit(new).port != old_port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", old_port), timeout=10):
        pass


def test_unknown_messages_are_ignored():
    panel, _ = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    link = panel.link
    panel._on_message(panel, {"type": "rm -rf"}, [])
    panel._on_message(panel, "not even a dict", [])
    assert panel.link == link


def test_provider_trouble_shows_an_error_with_a_hint():
    provider = FakeProvider()
    provider.metadata = lambda: {"issuer": "https://someone-else.test"}
    panel, _ = make_panel(provider)
    assert panel.wait_ready(10)
    assert panel.state == "error"
    assert "issuer" in panel.message
    assert panel.hint


def test_device_mode_shows_the_code_and_the_verification_link():
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending"] * 1000
    panel, client = make_panel(provider, mode="device")
    assert panel.wait_ready(10)
    assert panel.mode == "device"
    assert panel.user_code == "ABCD-EFGH"
    assert panel.link.endswith("user_code=ABCD-EFGH")
    assert "dc-secret" not in str(panel.get_state())
    client.cancel()


def test_device_mode_fallback_shows_the_page_and_the_code_but_no_live_link():
    # Without a widget manager (nbconvert, VS Code without widgets) the device flow is how to sign
    # in: the saved output must name the provider's page and the code, never the link with the code.
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending"] * 1000
    panel, client = make_panel(provider, mode="device")
    assert panel.wait_ready(10)
    data, _meta = panel._repr_mimebundle_()
    page = ISSUER + "/activate"
    for text in (data["text/plain"], data["text/html"], str(client.status())):
        assert page in text and "ABCD-EFGH" in text, text
        assert "user_code=" not in text and "dc-secret" not in text, text
    assert f'<a href="{page}"' in data["text/html"]
    client.cancel()


def test_a_panel_whose_settings_are_refused_raises_and_leaves_nothing_behind(monkeypatch):
    # A bad setting fails in __init__; the half-built widget's close() (from __del__) must not raise.
    import gc
    import sys

    from oauth_login import ConfigurationError

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(ConfigurationError):
        LoginButton(issuer=ISSUER, client_id="c", verify=0)
    gc.collect()
    assert unraisable == []


def test_interrupting_get_token_leaves_the_panels_sign_in_link_alive():
    """A user who interrupts a cell blocked in get_token() can still click Sign in afterwards."""
    import os
    import signal

    panel, client = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    link = panel.link
    # A real SIGINT, as the kernel's Interrupt sends: it breaks into the blocked wait.
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        client.get_token(timeout=30)
    timer.join()
    assert client.attempt is not None
    assert panel.link == link and panel.link_ready
    assert follow_start(link).startswith(ISSUER)  # the link still works
    client.cancel()
