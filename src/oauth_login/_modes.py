"""Which way the authorization response reaches us (loopback, device, paste), and why, in one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ._discovery import ProviderMetadata
from ._errors import ConfigurationError
from ._profiles import MODES

__all__ = ["choose_mode"]


def _remote_shell(env: Mapping[str, str]) -> bool:
    """An SSH session without a forwarded display: a browser here cannot be seen by the user."""
    if not (env.get("SSH_CONNECTION") or env.get("SSH_TTY")):
        return False
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def choose_mode(
    requested: str, metadata: ProviderMetadata, *, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """``(mode, reason)`` for ``requested`` (``auto`` or a forced mode)."""
    env = os.environ if env is None else env
    if requested not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)} (got {requested!r})")
    if requested == "server":
        raise ConfigurationError(
            "mode 'server' needs the Jupyter server extension, which is not reachable from here",
            hint="use --mode loopback, device or paste outside Jupyter",
        )
    if requested == "device" and not metadata.supports_device_flow:
        raise ConfigurationError(
            f"the provider at {metadata.issuer} does not support the device flow",
            hint="use --mode loopback or paste",
        )
    if requested != "auto":
        return requested, f"{requested} mode was requested"
    if _remote_shell(env):
        if metadata.supports_device_flow:
            return "device", "SSH session without a display: sign in from any browser with a code"
        return "paste", "SSH session without a display and no device flow at the provider: paste the address"
    return "loopback", "the browser runs on this computer: it redirects to a local port"
