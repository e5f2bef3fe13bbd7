"""Which way the authorization response reaches us (loopback, server relay, device, paste), and why."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from ._discovery import ProviderMetadata
from ._errors import ConfigurationError
from ._loopback import is_loopback_host
from ._profiles import MODES
from ._relay import ServerRelay, find_server, require_extension

__all__ = ["choose_mode"]


def _remote_shell(env: Mapping[str, str]) -> bool:
    """An SSH session without a forwarded display: a browser here cannot be seen by the user."""
    if not (env.get("SSH_CONNECTION") or env.get("SSH_TTY")):
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def _fallback(metadata: ProviderMetadata, why: str) -> tuple[str, str]:
    if metadata.supports_device_flow:
        return "device", f"{why}: sign in from any browser with a code"
    return "paste", f"{why}, and the provider has no device flow: paste the address the browser ends on"


def _is_loopback_uri(uri: str) -> bool:
    return is_loopback_host(urlsplit(uri).hostname or "")


def _kernel_relay() -> ServerRelay | None:
    # Only a Jupyter kernel has a server to relay through; a script never probes for one.
    return find_server() if "ipykernel" in sys.modules else None


def choose_mode(
    requested: str,
    metadata: ProviderMetadata,
    *,
    env: Mapping[str, str] | None = None,
    redirect_uri: str | None = None,
    find_relay: Callable[[], ServerRelay | None] = _kernel_relay,
) -> tuple[str, str]:
    """``(mode, reason)`` for ``requested`` (``auto`` or a forced mode), the reason in one line."""
    env = os.environ if env is None else env
    if requested not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)} (got {requested!r})")
    if requested == "device" and not metadata.supports_device_flow:
        raise ConfigurationError(
            f"the provider at {metadata.issuer} does not support the device flow",
            hint="use --mode loopback or paste",
        )
    if requested == "server":
        relay = find_relay()
        if relay is None:
            raise ConfigurationError(
                "mode 'server' needs a Jupyter server, and this process was not started by one",
                hint="use --mode loopback, device or paste outside Jupyter",
            )
        require_extension(relay)
        return (
            "server",
            f"server mode was requested: the {relay.source} server's extension receives the redirect",
        )
    if requested != "auto":
        return requested, f"{requested} mode was requested"
    if redirect_uri and _is_loopback_uri(redirect_uri):
        return "loopback", "the configured redirect URI is on this computer"
    relay = find_relay()
    if relay is not None and (relay.under_hub or not relay.loopback_only or redirect_uri):
        where = (
            "JupyterHub"
            if relay.under_hub
            else f"the Jupyter server at {urlsplit(relay.url).netloc} is remote"
        )
        if relay.info() is not None:
            how = "the hub-wide redirect URI" if relay.under_hub and not redirect_uri else "its redirect URI"
            return "server", f"{where}: {how} reaches this server's oauth-login extension"
        return _fallback(metadata, f"{where}, but its server lacks the oauth-login extension")
    if _remote_shell(env):
        return _fallback(metadata, "SSH session without a display")
    if relay is not None:
        return "loopback", "the Jupyter server runs on this computer: the browser redirects to a local port"
    return "loopback", "the browser runs on this computer: it redirects to a local port"
