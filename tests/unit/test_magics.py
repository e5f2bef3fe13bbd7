"""The IPython magics: registration, arguments, configuration, one-line errors."""

from __future__ import annotations

from typing import ClassVar

import pytest
from IPython import get_ipython
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython


@pytest.fixture(scope="module")
def ip():
    shell = start_ipython() or get_ipython()  # one global test shell per process
    yield shell
    if "OAuthMagics" in shell.magics_manager.registry:
        shell.run_line_magic("unload_ext", "oauth_login")


@pytest.fixture
def loaded(ip):
    ip.run_line_magic("load_ext", "oauth_login")
    yield ip
    ip.run_line_magic("unload_ext", "oauth_login")


def our_magics(ip) -> set[str]:
    return {
        name
        for name in ("oauth_login", "oauth_status", "oauth_logout")
        if name in ip.magics_manager.magics["line"]
    }


def test_load_ext_registers_the_three_magics_and_unload_removes_them(ip):
    assert our_magics(ip) == set()
    ip.run_line_magic("load_ext", "oauth_login")
    assert our_magics(ip) == {"oauth_login", "oauth_status", "oauth_logout"}
    ip.run_line_magic("unload_ext", "oauth_login")
    assert our_magics(ip) == set()
    assert "OAuthMagics" not in ip.magics_manager.registry


def test_reload_ext_leaves_exactly_one_registration(loaded):
    loaded.run_line_magic("reload_ext", "oauth_login")
    loaded.run_line_magic("reload_ext", "oauth_login")
    owners = {id(loaded.magics_manager.magics["line"][name].__self__) for name in our_magics(loaded)}
    assert len(owners) == 1
    assert [k for k in loaded.magics_manager.registry if k == "OAuthMagics"] == ["OAuthMagics"]


def test_help_documents_every_argument(loaded):
    doc = loaded.magics_manager.magics["line"]["oauth_login"].__doc__
    for option in ("profile", "--issuer", "--client-id", "--scopes", "--mode", "--timeout", "--no-browser"):
        assert option in doc
    for mode in ("auto", "loopback", "server", "device", "paste"):
        assert mode in doc
    assert "--revoke" in loaded.magics_manager.magics["line"]["oauth_logout"].__doc__


@pytest.mark.parametrize("line", ["--bogus", "--mode sideways", "--timeout soon", "a b"])
def test_bad_arguments_raise_a_one_line_usage_error(loaded, line):
    with pytest.raises(UsageError) as info:
        loaded.run_line_magic("oauth_login", line)
    assert "\n" not in str(info.value).strip()


def test_defaults_are_configurable_traits(ip):
    ip.config.OAuthMagics.default_timeout = 42.0
    ip.config.OAuthMagics.default_mode = "device"
    try:
        ip.run_line_magic("load_ext", "oauth_login")
        magics = ip.magics_manager.registry["OAuthMagics"]
        assert magics.default_timeout == 42.0
        assert magics.default_mode == "device"
    finally:
        ip.run_line_magic("unload_ext", "oauth_login")
        del ip.config.OAuthMagics


def test_our_errors_render_as_one_line_not_a_traceback(loaded, monkeypatch, tmp_path):
    from oauth_login import ConfigurationError

    for name in ("OAUTH_LOGIN_ISSUER", "OAUTH_LOGIN_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OAUTH_LOGIN_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ConfigurationError) as info:
        loaded.run_line_magic("oauth_login", "")
    rendered = info.value._render_traceback_()
    assert len(rendered) == 1
    assert "issuer" in rendered[0] and "OAUTH_LOGIN_ISSUER" in rendered[0]


def test_load_ext_is_cheap_and_imports_no_widget_stack():
    import subprocess
    import sys

    code = (
        "import sys\nfrom IPython.testing.globalipapp import start_ipython\nip = start_ipython()\n"
        "before = set(sys.modules)\nip.run_line_magic('load_ext', 'oauth_login')\n"
        "heavy = {'anywidget', 'ipywidgets', 'requests', 'keyring', 'tornado', 'jupyter_server'}\n"
        "print(sorted(heavy & (set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


class _RecordingPanel:
    """Stands in for LoginButton: records what %oauth_login passed, shows nothing."""

    calls: ClassVar[list[tuple[object, dict]]] = []

    def __init__(self, profile=None, **kwargs):
        _RecordingPanel.calls.append((profile, kwargs))

    def wait_ready(self, timeout):
        return True

    def _repr_pretty_(self, p, cycle):
        p.text("panel")


@pytest.fixture
def recorded(loaded, monkeypatch):
    _RecordingPanel.calls = []
    monkeypatch.setattr("oauth_login._panel.LoginButton", _RecordingPanel)
    return _RecordingPanel.calls


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('--scopes "openid profile offline_access"', {"scopes": "openid profile offline_access"}),
        ("--scopes 'openid profile'", {"scopes": "openid profile"}),
        ("--scopes openid", {"scopes": "openid"}),
        (
            "--issuer \"https://idp.test\" --client-id 'my client'",
            {"issuer": "https://idp.test", "client_id": "my client"},
        ),
        ('"work"', {}),
    ],
)
def test_string_arguments_accept_shell_quoting(recorded, line, expected):
    from IPython import get_ipython

    get_ipython().run_line_magic("oauth_login", line)
    (profile, kwargs) = recorded[-1]
    for key, value in expected.items():
        assert kwargs[key] == value
    assert not any('"' in str(v) or "'" in str(v) for v in kwargs.values())
    if line == '"work"':
        assert profile == "work"


@pytest.mark.parametrize("magic", ["oauth_login", "oauth_status", "oauth_logout"])
@pytest.mark.parametrize("line", ['--scopes "openid profile', "'work", 'work"'])
def test_an_unbalanced_quote_is_a_one_line_usage_error(loaded, magic, line):
    if magic != "oauth_login":
        line = line.replace("--scopes ", "")
    with pytest.raises(UsageError) as info:
        loaded.run_line_magic(magic, line)
    message = str(info.value).strip()
    assert "\n" not in message and "quot" in message


def test_status_and_logout_take_a_quoted_profile_name(loaded, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(
        "oauth_login._api.status_or_nobody", lambda profile, hint: seen.append(profile) or "s"
    )
    monkeypatch.setattr("oauth_login._api.logout", lambda profile=None, **kw: seen.append(profile) or False)
    loaded.run_line_magic("oauth_status", "'my profile'")
    loaded.run_line_magic("oauth_logout", '"my profile" --revoke')
    assert seen == ["my profile", "my profile"]
