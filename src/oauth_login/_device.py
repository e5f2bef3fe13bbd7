"""The device authorization grant (RFC 8628): show a code, then poll until the user has approved."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._discovery import ProviderMetadata
from ._errors import DeviceCodeExpiredError, LoginCancelledError, OAuthError, TransportError
from ._grants import (
    ClientAuth,
    DeviceAuthorization,
    TokenResponse,
    device_authorization_request,
    device_token_request,
    parse_device_authorization,
    parse_token_response,
)
from ._transport import HTTPRequest
from ._urls import link_problem

__all__ = ["DevicePrompt", "run_device_flow"]

_SLOW_DOWN_STEP = 5.0  # RFC 8628 3.5: add 5 seconds to the interval on every slow_down


@dataclass(frozen=True)
class DevicePrompt:
    """What to show the user. The user code is meant to be shown; the device code never is."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float

    @property
    def link(self) -> str:
        return self.verification_uri_complete or self.verification_uri

    def message(self) -> str:
        if self.verification_uri_complete:
            return f"Open {self.verification_uri_complete} and confirm the code {self.user_code}"
        return f"Open {self.verification_uri} and enter the code {self.user_code}"


def _check_links(grant: DeviceAuthorization) -> None:
    """Refuse verification links a browser must never open (``javascript:``, ``smb:``, http to elsewhere).

    They come from the provider's answer and go on to ``webbrowser.open``, the panel and the terminal.
    """
    for name, url in (
        ("verification_uri", grant.verification_uri),
        ("verification_uri_complete", grant.verification_uri_complete),
    ):
        problem = link_problem(url) if url is not None else None
        if problem is not None:
            raise OAuthError(
                "invalid_response",
                f"the provider sent a {name} that is never opened: {problem}",
                hint="ask the provider's administrator; only https:// sign-in links are opened",
            )


def run_device_flow(
    metadata: ProviderMetadata,
    client: ClientAuth,
    request: HTTPRequest,
    *,
    scope: str,
    on_prompt: Callable[[DevicePrompt], None],
    cancel: threading.Event,
    timeout: float | None = None,
    extra: dict[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TokenResponse:
    """Run the whole grant; ``cancel`` ends the wait at once (it is waited on, never slept past)."""
    endpoint = metadata.require("device_authorization_endpoint")
    token_endpoint = metadata.require("token_endpoint")
    prepared = device_authorization_request(endpoint, client, scope=scope, extra=extra)
    grant: DeviceAuthorization = parse_device_authorization(
        request("POST", prepared.url, headers=prepared.headers, data=prepared.body)
    )
    _check_links(grant)
    on_prompt(
        DevicePrompt(
            grant.user_code, grant.verification_uri, grant.verification_uri_complete, grant.expires_in
        )
    )
    started = clock()
    deadline = started + grant.expires_in if timeout is None else started + min(grant.expires_in, timeout)
    interval = grant.interval
    poll = device_token_request(token_endpoint, client, device_code=grant.device_code)
    while True:
        remaining = deadline - clock()
        if cancel.wait(min(interval, max(remaining, 0.0))):
            raise LoginCancelledError("the sign-in was cancelled")
        if clock() >= deadline:
            raise DeviceCodeExpiredError("expired_token", "the code was not confirmed in time")
        try:
            return parse_token_response(request("POST", poll.url, headers=poll.headers, data=poll.body))
        except OAuthError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += _SLOW_DOWN_STEP
                continue
            raise
        except TransportError:
            # RFC 8628 3.5: on a connection timeout, back off exponentially and keep polling.
            interval = max(interval, min(interval * 2, 60.0))  # never below what slow_down asked
