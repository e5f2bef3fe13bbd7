"""Python's keyring, used so that it cannot hang or mislead: bounded calls, real causes, real keyrings.

* :func:`call_keyring` runs one keyring operation in a daemon thread for at most
  :data:`KEYRING_TIMEOUT` seconds (an unlock dialog nobody answers would block forever) and turns
  any failure into a one-line :class:`StorageError` that keeps the backend's own words (keyring's
  SecretService backend wraps ``Prompt dismissed`` in an ``InitError``).
* :func:`keyring_is_usable` says whether the backend is a system keyring that answers now, and if
  not, why: no backend, keyring disabled, keyrings.alt's files, no D-Bus session bus, a locked
  collection, no answer.

``keyring`` is imported only inside functions: resolving its backend is slow, and
``import oauth_login`` must stay cheap.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ._errors import StorageError

__all__ = ["KEYRING_TIMEOUT", "backend_name", "call_keyring", "keyring_is_usable"]

# Long enough to type a password into an unlock dialog; a keyring call that takes longer is stuck.
KEYRING_TIMEOUT = 60.0

_KEYRING_HINT = "unlock the keyring, or set OAUTH_LOGIN_STORAGE=file to keep tokens in a private file instead"

_T = TypeVar("_T")


def call_keyring(
    what: str,
    function: Callable[..., _T],
    *args: Any,
    timeout: float | None = None,
    secret: str | None = None,
) -> _T:
    """Run one keyring operation, bounded, turning any failure into a one-line StorageError.

    ``what`` completes "the keyring could not ..." (e.g. "read the tokens"); ``timeout`` defaults
    to :data:`KEYRING_TIMEOUT`; a failure message that quotes ``secret`` is not repeated.
    """
    try:
        return _bounded(function, *args, what=what, timeout=KEYRING_TIMEOUT if timeout is None else timeout)
    except StorageError:
        raise
    except Exception as exc:  # backends raise D-Bus, OS and their own errors alike
        raise StorageError(
            f"the keyring could not {what} ({_describe_failure(exc, secret)})", hint=_KEYRING_HINT
        ) from exc


def _bounded(function: Callable[..., _T], *args: Any, what: str, timeout: float) -> _T:
    """Call ``function(*args)`` in a daemon thread; raise StorageError if it takes over ``timeout`` s.

    ``what`` completes "the keyring did not answer when asked to ..." in that error.

    A keyring call can block on something outside this process: a Secret Service unlock dialog
    nobody answers, a hung D-Bus daemon. The thread is left behind (it cannot be stopped), but the
    caller gets a clear error instead of a hang.
    """
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread below
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="oauth-login-keyring", daemon=True).start()
    if not done.wait(timeout):
        raise StorageError(
            f"the keyring did not answer within {timeout:g} s when asked to {what} "
            "(is it waiting for someone to unlock it?)",
            hint=_KEYRING_HINT,
        )
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def _describe_failure(exc: BaseException, secret: str | None = None) -> str:
    """``Type: message: cause``, one line, for an error raised by a keyring backend.

    keyring's SecretService backend wraps the real reason (``Prompt dismissed``) in its own error,
    so the chain of causes is followed; a message that quotes the stored value is left out.
    """
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 3:
        text = " ".join(str(current).split())
        if secret and secret in text:
            text = "its message quoted the value and is not shown"
        if text and not any(text in part for part in parts):
            parts.append(text)
        current = current.__cause__
    detail = ": ".join(parts)[:300]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def backend_name() -> str:
    """``module.Class`` of keyring's backend, for display ("unavailable" if it cannot be loaded)."""
    try:
        import keyring

        backend = _bounded(keyring.get_keyring, what="load its backend", timeout=KEYRING_TIMEOUT)
    except Exception:  # noqa: BLE001 -- describe() is for display and must not fail
        return "unavailable"
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def keyring_is_usable(service: str = "oauth-login") -> tuple[bool, str]:
    """Say whether the keyring can hold tokens, and why not in words for humans.

    Detects up front what would otherwise fail (or silently drop tokens) at write time: the
    ``fail`` backend (nothing installed or viable), the ``null`` backend (keyring disabled), a
    chainer with nothing to chain, keyrings.alt's backends (files, not a system keyring), any error
    while resolving the backend, and a keyring that cannot be read now: a locked Secret Service
    whose unlock prompt was dismissed, a headless box with no login collection, no answer within
    :data:`KEYRING_TIMEOUT` seconds. Reading one entry is the check (it may show an unlock dialog).
    """
    try:
        # In the bounded thread too: choosing a backend (and asking why the Secret Service is not
        # there) talks to D-Bus.
        problem = _bounded(_backend_problem, what="load its backend", timeout=KEYRING_TIMEOUT)
    except StorageError as exc:
        return False, exc.message
    except Exception as exc:  # noqa: BLE001 -- dbus, config files, plugins: any failure means unusable
        return False, f"the keyring backend could not be loaded ({_describe_failure(exc)})"
    if problem is not None:
        return False, problem
    import keyring

    try:
        call_keyring("read the tokens", keyring.get_password, service, "oauth-login keyring check")
    except StorageError as exc:
        return False, exc.message
    return True, f"keyring backend {backend_name()}"


def _backend_problem() -> str | None:
    """Why keyring's backend cannot keep tokens, or ``None`` if it is a real system keyring."""
    import keyring
    from keyring.backends import chainer, fail, null

    backend = keyring.get_keyring()

    if isinstance(backend, null.Keyring):
        return "the keyring is disabled (null backend)"
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            return _with_platform_reason("the keyring backend chainer has no backends to chain")
        if all(_is_keyrings_alt(item) for item in chained):
            return _keyrings_alt_reason(chained[0])
        return None
    if _is_keyrings_alt(backend):
        return _keyrings_alt_reason(backend)
    if isinstance(backend, fail.Keyring):
        return _with_platform_reason("no keyring backend is installed or available")
    return None


def _is_keyrings_alt(backend: Any) -> bool:
    # keyrings.alt's backends keep secrets in files (plain text, or encrypted behind a terminal
    # password prompt), not in a system keyring: as good as our private file at best.
    return type(backend).__module__.split(".")[0] == "keyrings"


def _keyrings_alt_reason(backend: Any) -> str:
    name = type(backend).__qualname__
    return _with_platform_reason(f"keyrings.alt's {name} keeps secrets in a file, not in a system keyring")


def _with_platform_reason(reason: str) -> str:
    """Add why the platform's own keyring is missing, where that can be told (the Secret Service)."""
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return f"{reason}; PYTHON_KEYRING_BACKEND chose it"
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return reason
    try:
        from keyring.backends import SecretService

        SecretService.Keyring.priority  # noqa: B018 -- raises with the reason when unusable
    except Exception as exc:  # noqa: BLE001 -- its reason is what we want, whatever the type
        detail = " ".join(str(exc).split())[:200]
        return f"{reason}; Secret Service: {detail or type(exc).__name__}"
    return reason
