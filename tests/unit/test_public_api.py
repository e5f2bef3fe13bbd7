"""The public API is pinned, resolves lazily, and ``import oauth_login`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import oauth_login

PUBLIC = [
    "AccessDeniedError",
    "BearerAuth",
    "CallbackError",
    "ConfigurationError",
    "Credentials",
    "DeviceCodeExpiredError",
    "DiscoveryError",
    "IDTokenError",
    "InvalidGrantError",
    "LoginAttempt",
    "LoginButton",
    "LoginCancelledError",
    "LoginStatus",
    "LoginTimeoutError",
    "NotSignedInError",
    "OAuthClient",
    "OAuthError",
    "OAuthLoginError",
    "Profile",
    "SignInLinkExpiredError",
    "StorageError",
    "TransportError",
    "auth",
    "client",
    "config_file",
    "get_token",
    "login",
    "logout",
    "resolve_profile",
    "session",
    "state_dir",
    "status",
]

HEAVY = ["requests", "keyring", "IPython", "ipywidgets", "anywidget", "tornado", "jupyter_server"]


def test_all_is_pinned():
    assert oauth_login.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves_to_an_object_defined_in_the_package(name):
    value = getattr(oauth_login, name)
    assert value is not None
    assert getattr(value, "__module__", "").startswith("oauth_login.")
    assert name in dir(oauth_login)


def test_exceptions_are_exported_from_their_one_home():
    from oauth_login import _errors

    for name in PUBLIC:
        if name.endswith("Error"):
            assert getattr(oauth_login, name) is getattr(_errors, name)
            assert issubclass(getattr(oauth_login, name), oauth_login.OAuthLoginError)


def test_unknown_attributes_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = oauth_login.nope  # type: ignore[attr-defined]
    assert not hasattr(oauth_login, "_client_")


def test_version_is_a_string():
    assert isinstance(oauth_login.__version__, str) and oauth_login.__version__


def _modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_import_oauth_login_imports_nothing_heavy():
    assert _modules_after("import oauth_login") == []


def test_core_names_stay_light_too():
    names = ("OAuthClient", "Credentials", "login", "Profile", "LoginStatus")
    code = f"import oauth_login\nfor n in {names!r}: getattr(oauth_login, n)"
    assert _modules_after(code) == []
