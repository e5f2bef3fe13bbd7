"""Finding the kernel's Jupyter server, and the automatic choice of mode inside Jupyter."""

from __future__ import annotations

import json

import pytest

from oauth_login._discovery import ProviderMetadata
from oauth_login._errors import ConfigurationError, TransportError
from oauth_login._modes import choose_mode
from oauth_login._relay import ServerRelay, find_server
from tests.local_servers import serve


def metadata(device: bool = True) -> ProviderMetadata:
    doc = {
        "issuer": "https://idp.test",
        "authorization_endpoint": "https://idp.test/a",
        "token_endpoint": "https://idp.test/t",
    }
    if device:
        doc["device_authorization_endpoint"] = "https://idp.test/d"
    return ProviderMetadata.from_dict(doc)


class FakeRelay(ServerRelay):
    """A relay whose extension is there (``has_extension``) or not, without any server."""

    def __init__(self, url: str, source: str = "runtime file", has_extension: bool = True) -> None:
        super().__init__(url, "tok", source)
        object.__setattr__(self, "has_extension", has_extension)

    def info(self):
        return {"version": "x"} if self.has_extension else None  # type: ignore[attr-defined]


def test_the_kernel_finds_its_server_in_the_runtime_file_of_its_parent(tmp_path):
    (tmp_path / "jpserver-4242.json").write_text(
        json.dumps({"url": "http://10.1.2.3:8888/", "base_url": "/prefix/", "token": "secret-token"})
    )
    relay = find_server({"JUPYTER_RUNTIME_DIR": str(tmp_path)}, parent_pid=4242)
    assert relay is not None
    assert relay.url == "http://10.1.2.3:8888/prefix/"
    assert relay.source == "runtime file"
    assert not relay.loopback_only
    assert "secret-token" not in repr(relay)


def test_a_runtime_file_url_that_already_ends_with_base_url_is_not_doubled(tmp_path):
    (tmp_path / "jpserver-7.json").write_text(
        json.dumps({"url": "http://127.0.0.1:1/user/alice/", "base_url": "/user/alice/", "token": "t"})
    )
    relay = find_server({"JUPYTER_RUNTIME_DIR": str(tmp_path)}, parent_pid=7)
    assert relay is not None
    assert relay.url == "http://127.0.0.1:1/user/alice/"


def test_no_server_under_plain_ipython_or_nbclient(tmp_path):
    assert find_server({"JUPYTER_RUNTIME_DIR": str(tmp_path)}, parent_pid=1) is None


@pytest.mark.parametrize(
    ("service_url", "expected"),
    [
        ("http://10.0.0.7:41000/user/alice/", "http://10.0.0.7:41000/user/alice/"),  # as JupyterHub 6 sets it
        ("http://10.0.0.7:41000", "http://10.0.0.7:41000/user/alice/"),  # without the prefix
    ],
)
def test_under_jupyterhub_the_service_url_and_prefix_are_used(service_url, expected):
    env = {
        "JUPYTERHUB_SERVICE_URL": service_url,
        "JUPYTERHUB_API_TOKEN": "hub-token",
        "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
    }
    relay = find_server(env, parent_pid=1)
    assert relay is not None
    assert relay.url == expected
    assert relay.under_hub


def test_auto_under_jupyterhub_uses_the_relay_and_says_why():
    mode, reason = choose_mode(
        "auto", metadata(), env={}, find_relay=lambda: FakeRelay("http://10.0.0.7:1/", "JupyterHub")
    )
    assert mode == "server"
    assert "JupyterHub" in reason and "hub-wide" in reason


def test_auto_on_a_remote_server_with_the_extension_uses_the_relay():
    mode, reason = choose_mode(
        "auto", metadata(), env={}, find_relay=lambda: FakeRelay("http://10.1.2.3:8888/")
    )
    assert mode == "server"
    assert "remote" in reason


def test_auto_on_a_local_server_uses_loopback():
    mode, reason = choose_mode(
        "auto", metadata(), env={}, find_relay=lambda: FakeRelay("http://127.0.0.1:8888/")
    )
    assert mode == "loopback"
    assert "this computer" in reason


@pytest.mark.parametrize("device", [True, False])
def test_auto_on_a_remote_server_without_the_extension_explains_and_falls_back(device):
    relay = FakeRelay("http://10.1.2.3:8888/", has_extension=False)
    mode, reason = choose_mode("auto", metadata(device), env={}, find_relay=lambda: relay)
    assert mode == ("device" if device else "paste")
    assert "lacks the oauth-login extension" in reason


def test_forced_server_mode_without_a_server_or_extension_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="not started by one"):
        choose_mode("server", metadata(), env={}, find_relay=lambda: None)
    with pytest.raises(ConfigurationError, match="no oauth-login extension") as info:
        choose_mode(
            "server",
            metadata(),
            env={},
            find_relay=lambda: FakeRelay("http://10.1.2.3:1/", has_extension=False),
        )
    assert "pip install oauth-login" in info.value.hint


def test_an_explicit_loopback_redirect_uri_means_loopback_and_a_public_one_the_relay():
    relay = FakeRelay("http://127.0.0.1:8888/")
    assert (
        choose_mode(
            "auto",
            metadata(),
            env={},
            redirect_uri="http://127.0.0.1:8765/callback",
            find_relay=lambda: relay,
        )[0]
        == "loopback"
    )
    assert (
        choose_mode(
            "auto",
            metadata(),
            env={},
            redirect_uri="https://jupyter.example.com/oauth-login/callback",
            find_relay=lambda: relay,
        )[0]
        == "server"
    )


def test_outside_a_kernel_no_server_is_probed(monkeypatch):
    import sys
    import types

    from oauth_login import _modes

    probes: list[str] = []

    def probe() -> ServerRelay:
        probes.append("probed")
        return FakeRelay("http://10.1.2.3:8888/")  # a remote server with the extension: "server" if probed

    monkeypatch.setattr(_modes, "find_server", probe)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert choose_mode("auto", metadata(), env={})[0] == "loopback"
    assert probes == []
    # The control: inside a kernel the same probe is used, and its answer counts.
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert choose_mode("auto", metadata(), env={})[0] == "server"
    assert probes == ["probed"]


# --- the relay client's HTTP: no proxy, no redirects, JSON only (real local servers) ---------------------


def json_answer(seen):
    return 200, {"Content-Type": "application/json"}, b'{"version": "x", "id": "a1", "start_path": "/s/1"}'


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY", "all_proxy"])
def test_the_relay_never_goes_through_a_proxy(monkeypatch, variable):
    # BUG (B5): urllib's default opener sent the token to http_proxy in clear (CIDR no_proxy is ignored).
    with serve(json_answer) as server, serve(json_answer) as proxy:  # only their logs tell them apart
        check_no_proxy(monkeypatch, variable, server, proxy)


def check_no_proxy(monkeypatch, variable, server, proxy) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, proxy.base_url)
    monkeypatch.setenv("no_proxy", "10.0.0.0/8")  # a CIDR entry, which urllib does not understand
    relay = ServerRelay(server.base_url + "/", "the-api-token", "runtime file")
    assert relay.info() is not None
    relay.register(state="s", authorization_url="https://idp.test/a?state=s", redirect_uri=None, ttl=5)
    assert proxy.seen == []
    assert [seen.method for seen in server.seen] == ["GET", "POST"]


def test_the_relay_follows_no_redirect_and_never_sends_its_token_elsewhere():
    # BUG (B5): urllib followed a 302 and copied Authorization to the other server.
    with serve(json_answer, address="127.0.0.2") as elsewhere:
        location = elsewhere.base_url + "/stolen"
        with serve(lambda seen: (302, {"Location": location}, b"")) as server:
            relay = ServerRelay(server.base_url + "/", "the-api-token", "runtime file")
            with pytest.raises(TransportError, match="redirect") as info:
                relay.info()
    assert "the-api-token" not in str(info.value)
    assert elsewhere.seen == []
    assert server.authorizations == ["token the-api-token"]


@pytest.mark.parametrize("body", [b"<html>Jupyter login</html>", b"{not json", b"\xff\xfe"])
def test_a_200_answer_that_is_not_json_is_a_clear_error(body):
    # BUG (B5): json.loads raised a bare JSONDecodeError.
    with serve(lambda seen: (200, {"Content-Type": "text/html"}, body)) as server:
        relay = ServerRelay(server.base_url + "/", "the-api-token", "runtime file")
        with pytest.raises(TransportError, match="not JSON") as info:
            relay.info()
    assert "proxy" in info.value.hint or "server" in info.value.hint
