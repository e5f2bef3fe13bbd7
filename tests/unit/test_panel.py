"""The login panel's Python side: state transitions, messages, fallback display, no secret in any trait."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth_login import Credentials
from oauth_login._client import OAuthClient
from oauth_login._profiles import Profile
from oauth_login._stores import MemoryStore
from tests.fake_provider import ISSUER, FakeProvider


class TraitLog:
    """Every value every synced trait of a widget ever took."""

    def __init__(self, widget) -> None:
        self.values: list[tuple[str, object]] = [(n, getattr(widget, n)) for n in widget.keys]
        self.changed = threading.Condition()
        widget.observe(self._record, names=list(widget.keys))

    def _record(self, change) -> None:
        with self.changed:
            self.values.append((change["name"], change["new"]))
            self.changed.notify_all()

    def wait_for(self, widget, predicate, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(widget), timeout), self.values[-5:]

    def text(self) -> str:
        return "\n".join(f"{n}={v!r}" for n, v in self.values)


def make_panel(provider: FakeProvider, store=None, **kwargs):
    from oauth_login import LoginButton

    client = OAuthClient(
        Profile(issuer=ISSUER, client_id="nb"), store=store or MemoryStore(), request=provider
    )
    return LoginButton(client=client, **kwargs), client


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
    assert panel.start_url == ""
    assert client.attempt is None
    assert sum(provider.requests.values()) == 0


def test_sign_in_flow_moves_through_the_states_and_no_trait_ever_holds_a_secret():
    provider = FakeProvider()
    panel, client = make_panel(provider)
    log = TraitLog(panel)
    assert panel.wait_ready(10)
    assert panel.state == "signed_out"
    assert panel.start_url.startswith("http://127.0.0.1:")
    assert panel.mode == "loopback"
    first = panel.start_url
    authorize = follow_start(first)  # the click: the link is spent, the browser is on its way
    log.wait_for(panel, lambda w: w.state == "waiting")
    # A fresh link for the same attempt is there at once (a closed pop-up, a busy kernel) ...
    assert panel.start_url not in ("", first)
    with pytest.raises(AssertionError, match="404"):
        follow_start(first)  # ... while the used one is dead
    assert follow_start(panel.start_url) == authorize
    query = parse_qs(urlsplit(authorize).query)
    state, redirect_uri = query["state"][0], query["redirect_uri"][0]
    with urllib.request.urlopen(f"{redirect_uri}?code=the-code-123&state={state}&iss={ISSUER}", timeout=10):
        pass
    log.wait_for(panel, lambda w: w.state == "signed_in")
    creds = client._creds
    verifier = next(b["code_verifier"] for b in provider.bodies if "code_verifier" in b)
    secrets = [creds.access_token, creds.refresh_token, "the-code-123", state, verifier]
    everything = log.text() + repr(panel) + str(panel._repr_mimebundle_())
    for secret in secrets:
        assert secret not in everything


def test_fallback_display_has_a_clickable_link_and_plain_text():
    panel, _ = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    data, _meta = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert f'href="{panel.start_url}"' in data["text/html"]
    assert 'target="_blank"' in data["text/html"]
    assert panel.start_url in data["text/plain"]
    assert "signed" in data["text/plain"] or "waiting" in data["text/plain"]


def test_sign_out_message_logs_out_and_prepares_a_new_link():
    provider = FakeProvider()
    store = stored_login()
    panel, _ = make_panel(provider, store)
    log = TraitLog(panel)
    assert panel.state == "signed_in"
    panel._on_message(panel, {"type": "sign_out"}, [])
    log.wait_for(panel, lambda w: w.state == "signed_out" and w.start_url)
    assert store.load("default") is None


def test_cancel_message_replaces_the_link():
    panel, _ = make_panel(FakeProvider())
    log = TraitLog(panel)
    assert panel.wait_ready(10)
    first = panel.start_url
    panel._on_message(panel, {"type": "cancel"}, [])
    log.wait_for(panel, lambda w: w.start_url not in ("", first))
    with pytest.raises(urllib.error.URLError):  # the old receiver is gone
        urllib.request.urlopen(first, timeout=10)


def test_unknown_messages_are_ignored():
    panel, _ = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    link = panel.start_url
    panel._on_message(panel, {"type": "rm -rf"}, [])
    panel._on_message(panel, "not even a dict", [])
    assert panel.start_url == link


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
    assert panel.start_url.endswith("user_code=ABCD-EFGH")
    assert "dc-secret" not in str(panel.get_state())
    client.cancel()


def test_interrupting_get_token_leaves_the_panels_sign_in_link_alive():
    """A user who interrupts a cell blocked in get_token() can still click Sign in afterwards."""
    import os
    import signal

    panel, client = make_panel(FakeProvider())
    assert panel.wait_ready(10)
    link = panel.start_url
    # A real SIGINT, as the kernel's Interrupt sends: it breaks into the blocked wait.
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        client.get_token(timeout=30)
    timer.join()
    assert client.attempt is not None
    assert panel.start_url == link
    assert follow_start(link).startswith(ISSUER)  # the link still works
    client.cancel()
