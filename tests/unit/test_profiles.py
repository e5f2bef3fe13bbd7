"""Profiles: keyword arguments over OAUTH_LOGIN_* variables over the TOML profiles file."""

from __future__ import annotations

from pathlib import Path

import pytest

from oauth_login._errors import ConfigurationError
from oauth_login._profiles import DEFAULT_SCOPES, Profile, resolve_profile


@pytest.fixture
def config(oauth_env: Path) -> Path:
    return oauth_env / "profiles.toml"


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


WORK = """
[profiles.work]
issuer = "https://work.example"
client_id = "work-client"
scopes = ["openid", "api"]
mode = "device"

[profiles.home]
issuer = "https://home.example"
client_id = "home-client"
scopes = "openid profile, offline_access"
"""


def test_named_profile_from_the_file(config):
    write(config, WORK)
    profile = resolve_profile("work")
    assert (profile.name, profile.issuer, profile.client_id) == (
        "work",
        "https://work.example",
        "work-client",
    )
    assert profile.scopes == ("openid", "api")
    assert profile.mode == "device"


def test_scopes_as_a_string_with_spaces_or_commas(config):
    write(config, WORK)
    assert resolve_profile("home").scopes == ("openid", "profile", "offline_access")


def test_default_profile_is_used_when_no_name_is_given(config):
    write(config, 'default_profile = "home"\n' + WORK)
    profile = resolve_profile()
    assert profile.name == "home"
    assert profile.issuer == "https://home.example"


def test_profile_named_default_is_used_without_default_profile(config):
    write(config, '[profiles.default]\nissuer = "https://d.example"\nclient_id = "d"\n')
    profile = resolve_profile()
    assert (profile.name, profile.issuer) == ("default", "https://d.example")
    assert profile.scopes == DEFAULT_SCOPES


def test_environment_beats_the_file(config, monkeypatch):
    write(config, WORK)
    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", "https://env.example")
    monkeypatch.setenv("OAUTH_LOGIN_CLIENT_ID", "env-client")
    monkeypatch.setenv("OAUTH_LOGIN_SCOPES", "openid email")
    monkeypatch.setenv("OAUTH_LOGIN_REDIRECT_URI", "http://127.0.0.1:8765/callback")
    monkeypatch.setenv("OAUTH_LOGIN_MODE", "paste")
    profile = resolve_profile("work")
    assert profile.name == "work"
    assert profile.issuer == "https://env.example"
    assert profile.client_id == "env-client"
    assert profile.scopes == ("openid", "email")
    assert profile.redirect_uri == "http://127.0.0.1:8765/callback"
    assert profile.mode == "paste"


def test_keyword_arguments_beat_the_environment_and_the_file(config, monkeypatch):
    write(config, WORK)
    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", "https://env.example")
    monkeypatch.setenv("OAUTH_LOGIN_SCOPES", "openid email")
    monkeypatch.setenv("OAUTH_LOGIN_MODE", "paste")
    profile = resolve_profile("work", issuer="https://kw.example", scopes=["a", "b"], mode="loopback")
    assert profile.issuer == "https://kw.example"
    assert profile.scopes == ("a", "b")
    assert profile.mode == "loopback"
    assert profile.client_id == "work-client"  # untouched settings still come from the file


def test_none_keyword_arguments_do_not_override(config):
    write(config, WORK)
    assert resolve_profile("work", issuer=None, mode=None).issuer == "https://work.example"


def test_environment_alone_is_enough(oauth_env, monkeypatch):
    monkeypatch.setenv("OAUTH_LOGIN_ISSUER", "https://env.example")
    monkeypatch.setenv("OAUTH_LOGIN_CLIENT_ID", "env-client")
    profile = resolve_profile()
    assert (profile.name, profile.issuer, profile.client_id) == (
        "default",
        "https://env.example",
        "env-client",
    )
    assert profile.scopes == DEFAULT_SCOPES


def test_scopes_keyword_as_string_or_list(oauth_env):
    assert resolve_profile(issuer="https://i", client_id="c", scopes="openid api").scopes == ("openid", "api")
    assert resolve_profile(issuer="https://i", client_id="c", scopes=["openid", "api"]).scopes == (
        "openid",
        "api",
    )
    with pytest.raises(ConfigurationError, match="scopes"):
        resolve_profile(issuer="https://i", client_id="c", scopes=["openid", 3])


def test_unknown_keyword_setting_is_named(oauth_env):
    with pytest.raises(ConfigurationError, match="'client_secrte'"):
        resolve_profile(issuer="https://i", client_id="c", client_secrte="x")


def test_unknown_file_setting_is_named(config):
    write(config, '[profiles.work]\nissuer = "https://i"\nclient_id = "c"\nscope = "openid"\n')
    with pytest.raises(ConfigurationError) as info:
        resolve_profile("work")
    assert "scope" in info.value.message
    assert "[profiles.work]" in info.value.message
    assert "scopes" in info.value.hint  # the known settings are listed


def test_missing_profile_lists_the_known_ones(config):
    write(config, WORK)
    with pytest.raises(ConfigurationError) as info:
        resolve_profile("office")
    assert "'office'" in info.value.message
    assert "home, work" in info.value.message
    assert "[profiles.office]" in info.value.hint


def test_missing_default_profile_named_in_the_file(config):
    write(config, 'default_profile = "gone"\n' + WORK)
    with pytest.raises(ConfigurationError, match="'gone'"):
        resolve_profile()


def test_missing_profile_is_fine_when_issuer_and_client_come_from_elsewhere(config):
    write(config, WORK)
    profile = resolve_profile("office", issuer="https://o.example", client_id="o")
    assert (profile.name, profile.issuer) == ("office", "https://o.example")


def test_broken_toml_gives_a_one_line_error(config):
    write(config, "[profiles.work\nissuer = \n'''")
    with pytest.raises(ConfigurationError) as info:
        resolve_profile("work")
    text = str(info.value)
    assert "\n" not in text
    assert str(config) in text
    assert "TOML" in info.value.hint


def test_missing_issuer_says_how_to_give_one(oauth_env):
    with pytest.raises(ConfigurationError, match="no issuer") as info:
        resolve_profile()
    assert "OAUTH_LOGIN_ISSUER" in info.value.hint


def test_missing_client_id_says_how_to_give_one(oauth_env):
    with pytest.raises(ConfigurationError, match="no client id") as info:
        resolve_profile(issuer="https://i")
    assert "OAUTH_LOGIN_CLIENT_ID" in info.value.hint


def test_invalid_mode_is_rejected(oauth_env, monkeypatch):
    monkeypatch.setenv("OAUTH_LOGIN_MODE", "telepathy")
    with pytest.raises(ConfigurationError, match="mode must be one of"):
        resolve_profile(issuer="https://i", client_id="c")


def test_wrongly_typed_file_values_become_configuration_errors(config):
    write(config, '[profiles.work]\nissuer = "https://i"\nclient_id = "c"\ntimeout = "long"\n')
    with pytest.raises(ConfigurationError):
        resolve_profile("work")


def test_authorization_prompt_is_consent_when_offline_access_is_asked_for():
    assert Profile("https://i", "c").authorization_prompt == "consent"
    assert Profile("https://i", "c", scopes=("openid",)).authorization_prompt is None
    assert Profile("https://i", "c", prompt="login").authorization_prompt == "login"
    assert Profile("https://i", "c", prompt="").authorization_prompt is None  # explicitly none


def test_client_secret_is_not_in_the_repr():
    assert "hush" not in repr(Profile("https://i", "c", client_secret="hush"))


def test_scope_joins_the_scopes():
    assert Profile("https://i", "c", scopes=("openid", "api")).scope == "openid api"


# --- verify: a bool or a CA bundle path, nothing that merely looks false ---------------------------------
@pytest.mark.parametrize("value", ["0", '""', "1", "0.0", "[]"])
def test_a_verify_that_is_neither_a_bool_nor_a_ca_path_is_refused(config, value):
    write(config, f'[profiles.work]\nissuer = "https://work.example"\nclient_id = "c"\nverify = {value}\n')
    with pytest.raises(ConfigurationError) as caught:
        resolve_profile("work")
    assert "verify" in caught.value.message
    assert "true, false or the path of a CA bundle" in caught.value.hint


@pytest.mark.parametrize(("value", "expected"), [("true", True), ('"/etc/ssl/ca.pem"', "/etc/ssl/ca.pem")])
def test_verify_accepts_a_bool_or_a_ca_path(config, value, expected):
    write(config, f'[profiles.work]\nissuer = "https://work.example"\nclient_id = "c"\nverify = {value}\n')
    assert resolve_profile("work").verify == expected


def test_verify_is_checked_for_keyword_arguments_too(oauth_env):
    with pytest.raises(ConfigurationError, match="verify"):
        Profile(issuer="https://work.example", client_id="c", verify=0)  # type: ignore[arg-type]
