"""Profiles: which provider and client to use, from arguments, ``OAUTH_LOGIN_*`` variables or a TOML file.

The profiles file (``oauth_login.config_file()``; ``$OAUTH_LOGIN_CONFIG`` overrides the path)::

    default_profile = "work"

    [profiles.work]
    issuer = "https://idp.example.com"
    client_id = "notebook"
    scopes = ["openid", "profile", "email", "offline_access"]   # or one space-separated string
    # optional: mode, redirect_uri, audience, prompt, client_secret, verify, timeout, extra_auth_params

Precedence, highest first: keyword arguments, environment variables, the named profile, defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ._errors import ConfigurationError
from ._paths import config_file
from ._transport import check_verify

__all__ = ["DEFAULT_SCOPES", "MODES", "Profile", "load_profiles_file", "resolve_profile"]

DEFAULT_SCOPES = ("openid", "profile", "email", "offline_access")
MODES = ("auto", "loopback", "server", "device", "paste")
DEFAULT_PROFILE = "default"

_ENV = {
    "issuer": "OAUTH_LOGIN_ISSUER",
    "client_id": "OAUTH_LOGIN_CLIENT_ID",
    "scopes": "OAUTH_LOGIN_SCOPES",
    "redirect_uri": "OAUTH_LOGIN_REDIRECT_URI",
    "mode": "OAUTH_LOGIN_MODE",
}


@dataclass(frozen=True)
class Profile:
    """Everything needed to sign in to one provider with one client."""

    issuer: str
    client_id: str
    name: str = DEFAULT_PROFILE
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    mode: str = "auto"
    redirect_uri: str | None = None
    audience: str | None = None
    prompt: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    verify: bool | str = True
    timeout: float = 300.0
    refresh_margin: float = 60.0
    extra_auth_params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ConfigurationError(
                "no issuer given",
                hint="pass issuer=..., set OAUTH_LOGIN_ISSUER, or name a profile from the profiles file",
            )
        if not self.client_id:
            raise ConfigurationError(
                "no client id given", hint="pass client_id=..., set OAUTH_LOGIN_CLIENT_ID, or use a profile"
            )
        if self.mode not in MODES:
            raise ConfigurationError(f"mode must be one of {', '.join(MODES)} (got {self.mode!r})")
        check_verify(self.verify)
        if self.timeout <= 0:
            raise ConfigurationError(f"timeout must be a positive number of seconds (got {self.timeout})")

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    @property
    def authorization_prompt(self) -> str | None:
        # OIDC Core 11: offline_access is honoured only with prompt=consent (oidc-provider drops it otherwise)
        if self.prompt is not None:
            return self.prompt or None
        return "consent" if "offline_access" in self.scopes else None

    def with_overrides(self, **changes: Any) -> Profile:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _split_scopes(value: Any, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.replace(",", " ").split())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"scopes in {source} must be a string or a list of strings")


_KNOWN = {f.name for f in fields(Profile)}


def load_profiles_file(path: Path | None = None) -> dict[str, Any]:
    """The parsed profiles file, or ``{}`` when there is none."""
    path = path or config_file()
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the profiles file {path}: {exc}",
            hint="fix the TOML syntax or set OAUTH_LOGIN_CONFIG",
        ) from exc
    return dict(doc)


def _file_settings(name: str | None, doc: Mapping[str, Any], path: Path) -> tuple[str, dict[str, Any] | None]:
    """The profile's name and its settings from the file (``None`` when the file lacks that profile)."""
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError(f"[profiles] in {path} must be a table of profiles")
    wanted = name or doc.get("default_profile")
    if wanted is None:
        return DEFAULT_PROFILE, dict(profiles.get(DEFAULT_PROFILE, {}))
    if wanted not in profiles:
        return str(wanted), None
    settings = profiles[wanted]
    if not isinstance(settings, dict):
        raise ConfigurationError(f"[profiles.{wanted}] in {path} must be a table")
    unknown = sorted(set(settings) - _KNOWN)
    if unknown:
        raise ConfigurationError(
            f"unknown setting(s) {', '.join(unknown)} in [profiles.{wanted}] of {path}",
            hint=f"known settings: {', '.join(sorted(_KNOWN - {'name'}))}",
        )
    return str(wanted), dict(settings)


def resolve_profile(name: str | None = None, **overrides: Any) -> Profile:
    """The profile called ``name`` (or the default one), with env vars and ``overrides`` on top."""
    path = config_file()
    doc = load_profiles_file(path)
    profile_name, found = _file_settings(name, doc, path)
    settings = found if found is not None else {}
    if "scopes" in settings:
        settings["scopes"] = _split_scopes(settings["scopes"], str(path))
    for key, var in _ENV.items():
        value = os.environ.get(var)
        if value:
            settings[key] = _split_scopes(value, var) if key == "scopes" else value
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in _KNOWN:
            raise ConfigurationError(f"unknown setting {key!r}", hint=f"known: {', '.join(sorted(_KNOWN))}")
        settings[key] = _split_scopes(value, "scopes=") if key == "scopes" else value
    settings["name"] = str(overrides.get("name") or profile_name)
    if found is None and not (settings.get("issuer") and settings.get("client_id")):
        known = ", ".join(sorted(doc.get("profiles", {}))) or "none"
        raise ConfigurationError(
            f"no profile named {profile_name!r} in {path} (known: {known})",
            hint=f"add [profiles.{profile_name}] to {path}, or pass issuer and client_id",
        )
    try:
        return Profile(**{"issuer": "", "client_id": "", **settings})
    except TypeError as exc:
        raise ConfigurationError(f"invalid profile settings: {exc}") from exc
