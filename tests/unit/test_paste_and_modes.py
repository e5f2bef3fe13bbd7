"""The paste receiver and the choice of mode (loopback, device, paste)."""

from __future__ import annotations

import sys

import pytest

from oauth_login._discovery import ProviderMetadata
from oauth_login._errors import CallbackError, ConfigurationError
from oauth_login._modes import choose_mode
from oauth_login._paste import read_pasted_redirect
from tests.fake_provider import ISSUER, FakeProvider

REDIRECT = "http://127.0.0.1/callback"


def pasted(text: str):
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        return text

    return read, prompts


def test_the_pasted_redirect_gives_its_query_parameters(capsys):
    read, prompts = pasted(f"  {REDIRECT}?code=CODE-SECRET&state=STATE-SECRET&iss=https%3A%2F%2Fidp.test\n")
    params = read_pasted_redirect(REDIRECT, read=read)
    assert params == {"code": "CODE-SECRET", "state": "STATE-SECRET", "iss": "https://idp.test"}
    assert len(prompts) == 1 and "hidden" in prompts[0]
    out, err = capsys.readouterr()
    assert "SECRET" not in out + err  # nothing is echoed


def test_an_error_redirect_is_returned_for_the_callback_checks():
    read, _ = pasted(f"{REDIRECT}?error=access_denied&state=S")
    assert read_pasted_redirect(REDIRECT, read=read) == {"error": "access_denied", "state": "S"}


@pytest.mark.parametrize(
    "text",
    [
        "https://evil.example/callback?code=C&state=S",  # another host
        "http://127.0.0.1:8080/callback?code=C&state=S",  # another port
        "http://127.0.0.1/other?code=C&state=S",  # another path
        "http://127.0.0.1/callback/extra?code=C&state=S",
        "https://127.0.0.1/callback?code=C&state=S",  # another scheme
        "code=C&state=S",  # only the query
        "",
    ],
)
def test_another_address_is_rejected_with_a_hint(text):
    read, _ = pasted(text)
    with pytest.raises(CallbackError) as info:
        read_pasted_redirect(REDIRECT, read=read)
    assert REDIRECT in info.value.hint
    assert "C&state" not in str(info.value)


def metadata(*, device: bool) -> ProviderMetadata:
    doc = {"issuer": "https://idp.test", "token_endpoint": "https://idp.test/token"}
    if device:
        doc["device_authorization_endpoint"] = "https://idp.test/device"
    return ProviderMetadata.from_dict(doc)


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")


SSH = {"SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22"}


def test_auto_on_a_desktop_is_loopback(linux):
    mode, reason = choose_mode("auto", metadata(device=True), env={"DISPLAY": ":0"})
    assert mode == "loopback"
    assert reason


def test_auto_over_ssh_without_display_is_device_when_supported(linux):
    mode, reason = choose_mode("auto", metadata(device=True), env=SSH)
    assert mode == "device"
    assert "SSH" in reason


def test_auto_over_ssh_without_display_and_without_device_flow_is_paste(linux):
    mode, reason = choose_mode("auto", metadata(device=False), env={"SSH_TTY": "/dev/pts/1"})
    assert mode == "paste"
    assert "SSH" in reason and "device" in reason


def test_auto_over_ssh_with_a_forwarded_display_is_loopback(linux):
    assert (
        choose_mode("auto", metadata(device=True), env={**SSH, "DISPLAY": "localhost:10.0"})[0] == "loopback"
    )
    assert (
        choose_mode("auto", metadata(device=True), env={**SSH, "WAYLAND_DISPLAY": "wayland-0"})[0]
        == "loopback"
    )


def test_auto_over_ssh_on_macos_is_device(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert choose_mode("auto", metadata(device=True), env={**SSH, "DISPLAY": ":0"})[0] == "device"


def test_auto_reads_os_environ_by_default(linux, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("SSH_TTY", raising=False)
    monkeypatch.setenv("SSH_CONNECTION", SSH["SSH_CONNECTION"])
    assert choose_mode("auto", metadata(device=True))[0] == "device"


@pytest.mark.parametrize("forced", ["loopback", "paste", "device"])
def test_forced_modes_are_used_even_over_ssh(linux, forced):
    mode, reason = choose_mode(forced, metadata(device=True), env=SSH)
    assert mode == forced
    assert "requested" in reason


def test_forced_loopback_without_ssh(linux):
    assert choose_mode("loopback", metadata(device=False), env={})[0] == "loopback"


def test_forced_device_without_provider_support_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="device flow") as info:
        choose_mode("device", metadata(device=False), env={})
    assert "loopback" in info.value.hint


def test_server_mode_outside_jupyter_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="server"):
        choose_mode("server", metadata(device=True), env={})


# --- a paste attempt ends on Cancel, Ctrl-C and its deadlines ------------------------------------


def paste_client(provider):
    from oauth_login._client import OAuthClient
    from oauth_login._profiles import Profile
    from oauth_login._stores import MemoryStore

    return OAuthClient(Profile(issuer=ISSUER, client_id="cli"), store=MemoryStore(), request=provider)


class NeverPasted:
    """A reader that blocks like a person who never pastes; released at the end of the test."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def __call__(self, prompt: str) -> str:
        self.release.wait(30)
        return ""


@pytest.fixture
def never_pasted():
    reader = NeverPasted()
    yield reader
    reader.release.set()


def start_paste(client, reader, **kwargs):
    links: list[str] = []
    attempt = client.start_login(
        mode="paste",
        open_browser=False,
        show_link=lambda link, code: links.append(link),
        read_paste=reader,
        **kwargs,
    )
    return attempt, links


def test_cancel_ends_a_paste_attempt_that_waits_for_the_user(never_pasted):
    from oauth_login._errors import LoginCancelledError

    client = paste_client(FakeProvider())
    attempt, _ = start_paste(client, never_pasted, timeout=300)
    assert attempt.link_ready.wait(10)
    attempt.cancel()
    with pytest.raises(LoginCancelledError):
        attempt.wait(10)  # a LoginTimeoutError here means the cancel was not seen
    assert client.status().state == "signed_out"


def test_a_cancel_before_the_paste_prompt_ends_the_attempt(never_pasted, monkeypatch):
    import threading

    from oauth_login import _login
    from oauth_login._errors import LoginCancelledError

    client = paste_client(FakeProvider())
    publishing, go = threading.Event(), threading.Event()
    publish = _login.LoginAttempt._publish

    def slow_publish(self, link, user_code=None):
        publishing.set()
        assert go.wait(10)
        publish(self, link, user_code)

    monkeypatch.setattr(_login.LoginAttempt, "_publish", slow_publish)
    attempt, _ = start_paste(client, never_pasted, timeout=300)
    assert publishing.wait(10)
    attempt.cancel()  # before the prompt exists
    go.set()
    with pytest.raises(LoginCancelledError):
        attempt.wait(10)


def test_the_idle_timeout_ends_an_unused_paste_link_so_a_panel_makes_a_new_one(never_pasted):
    from oauth_login._errors import SignInLinkExpiredError

    client = paste_client(FakeProvider())
    attempt, _ = start_paste(client, never_pasted, timeout=0.05, idle_timeout=0.05)
    with pytest.raises(SignInLinkExpiredError):
        attempt.wait(10)
    assert client.status().state == "signed_out"  # quiet: no error shown for a link nobody used


def test_the_timeout_ends_a_paste_attempt_with_a_timeout_error(never_pasted):
    from oauth_login._errors import LoginTimeoutError

    client = paste_client(FakeProvider())
    attempt, _ = start_paste(client, never_pasted, timeout=0.05)
    with pytest.raises(LoginTimeoutError, match="pasted"):
        attempt.wait(10)


def test_an_address_handed_over_with_paste_completes_the_sign_in(never_pasted):
    provider = FakeProvider()
    client = paste_client(provider)
    attempt, links = start_paste(client, lambda prompt: None, timeout=300)
    assert attempt.link_ready.wait(10)
    attempt.paste(provider.authorize(links[-1]))  # what the panel does with its paste box
    assert attempt.wait(10).account == "alice@example.com"


# --- the terminal prompt: hidden, cancellable, and the terminal is always restored --------------


@pytest.fixture
def pty_pair():
    import os
    import pty

    leader, follower = pty.openpty()
    yield leader, follower
    os.close(leader)
    os.close(follower)


def echo_on(fd: int) -> bool:
    import termios

    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)


def read_prompt(leader: int) -> str:
    import os
    import select

    seen = b""
    while b"(hidden)" not in seen:
        ready, _, _ = select.select([leader], [], [], 10)
        assert ready, f"no prompt on the terminal; got {seen!r}"
        seen += os.read(leader, 1024)
    return seen.decode()


def test_the_terminal_prompt_hides_input_and_restores_echo_after_a_line(pty_pair):
    import os
    import threading

    from oauth_login._paste import HiddenTerminalInput

    leader, follower = pty_pair
    assert echo_on(follower)
    terminal = HiddenTerminalInput(follower)
    got: list[str | None] = []
    reader = threading.Thread(target=lambda: got.append(terminal.read("Paste it (hidden): ")))
    reader.start()
    read_prompt(leader)
    assert not echo_on(follower), "the pasted address would be echoed"
    os.write(leader, f"{REDIRECT}?code=CODE-SECRET&state=S\n".encode())
    reader.join(10)
    assert got == [f"{REDIRECT}?code=CODE-SECRET&state=S"]
    assert echo_on(follower)


def test_stopping_the_terminal_prompt_restores_echo_at_once(pty_pair):
    import threading

    from oauth_login._paste import HiddenTerminalInput

    leader, follower = pty_pair
    terminal = HiddenTerminalInput(follower)
    got: list[str | None] = []
    reader = threading.Thread(target=lambda: got.append(terminal.read("Paste it (hidden): ")))
    reader.start()
    read_prompt(leader)
    assert not echo_on(follower)
    terminal.stop()  # Cancel, Ctrl-C or a deadline, from another thread
    reader.join(10)
    assert not reader.is_alive() and got == [None]
    assert echo_on(follower)
