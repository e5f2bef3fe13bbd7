"""The IPython magics: registration, arguments, configuration, one-line errors."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython


@pytest.fixture(scope="module")
def ip():
    shell = start_ipython()
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
