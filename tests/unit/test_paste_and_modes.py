"""The paste receiver and the choice of mode (loopback, device, paste)."""

from __future__ import annotations

import sys

import pytest

from oauth_login._discovery import ProviderMetadata
from oauth_login._errors import CallbackError, ConfigurationError
from oauth_login._modes import choose_mode
from oauth_login._paste import read_pasted_redirect

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
