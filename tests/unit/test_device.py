"""The device authorization grant (RFC 8628) against the fake provider, with no real waiting."""

from __future__ import annotations

import json

import pytest

from oauth_login._device import DevicePrompt, run_device_flow
from oauth_login._discovery import ProviderMetadata
from oauth_login._errors import (
    AccessDeniedError,
    DeviceCodeExpiredError,
    DiscoveryError,
    LoginCancelledError,
    OAuthError,
)
from oauth_login._grants import DEVICE_CODE_GRANT, ClientAuth
from oauth_login._transport import HTTPResponse
from tests.fake_provider import ISSUER, FakeProvider

POLL = f"/token:{DEVICE_CODE_GRANT}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingCancel:
    """Stands in for the attempt's ``threading.Event``: records each wait and moves the clock on."""

    def __init__(self, clock: FakeClock, *, cancel_on_wait: int | None = None) -> None:
        self.clock = clock
        self.waits: list[float] = []
        self.cancel_on_wait = cancel_on_wait

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        if self.cancel_on_wait is not None and len(self.waits) >= self.cancel_on_wait:
            return True
        self.clock.now += timeout
        return False


def run(provider: FakeProvider, *, cancel_on_wait: int | None = None, timeout: float | None = None):
    clock = FakeClock()
    cancel = RecordingCancel(clock, cancel_on_wait=cancel_on_wait)
    prompts: list[DevicePrompt] = []
    metadata = ProviderMetadata.from_dict(provider.metadata())
    result = None
    error: BaseException | None = None
    try:
        result = run_device_flow(
            metadata,
            ClientAuth("notebook"),
            provider,
            scope="openid offline_access",
            on_prompt=prompts.append,
            cancel=cancel,  # type: ignore[arg-type]
            timeout=timeout,
            clock=clock,
        )
    except BaseException as exc:  # noqa: BLE001 - handed back to the test to assert on
        error = exc
    return result, error, cancel.waits, prompts


def test_pending_then_success():
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending", "authorization_pending"]
    tokens, error, waits, prompts = run(provider)
    assert error is None
    assert tokens is not None and tokens.access_token.startswith("at-")
    assert tokens.refresh_token is not None
    assert waits == [5.0, 5.0, 5.0]  # the advertised interval before every poll, the first included
    assert provider.requests[POLL] == 3
    assert len(prompts) == 1


def test_requests_carry_exactly_the_device_grant_parameters():
    provider = FakeProvider()
    run(provider)
    device_request, poll = provider.bodies
    assert device_request == {"scope": "openid offline_access", "client_id": "notebook"}
    assert poll == {"grant_type": DEVICE_CODE_GRANT, "device_code": "dc-secret", "client_id": "notebook"}


def test_slow_down_adds_five_seconds_to_the_interval_for_good():
    provider = FakeProvider()
    provider.device_answers = ["slow_down", "authorization_pending", "slow_down"]
    tokens, error, waits, _ = run(provider)
    assert error is None and tokens is not None
    assert waits == [5.0, 10.0, 10.0, 15.0]


def test_expired_token_from_the_provider_raises_device_code_expired():
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending", "expired_token"]
    _, error, _, _ = run(provider)
    assert isinstance(error, DeviceCodeExpiredError)
    assert error.error == "expired_token"


def test_access_denied_raises_access_denied():
    provider = FakeProvider()
    provider.device_answers = ["access_denied"]
    _, error, _, _ = run(provider)
    assert isinstance(error, AccessDeniedError)
    assert provider.requests[POLL] == 1


def test_other_errors_end_the_flow():
    provider = FakeProvider()
    provider.device_answers = ["invalid_client"]
    _, error, _, _ = run(provider)
    assert isinstance(error, OAuthError)
    assert error.error == "invalid_client"


def test_cancel_ends_the_flow_without_another_poll():
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending"] * 10
    _, error, waits, _ = run(provider, cancel_on_wait=3)
    assert isinstance(error, LoginCancelledError)
    assert len(waits) == 3
    assert provider.requests[POLL] == 2


def test_cancel_before_the_first_poll():
    provider = FakeProvider()
    _, error, _, prompts = run(provider, cancel_on_wait=1)
    assert isinstance(error, LoginCancelledError)
    assert provider.requests[POLL] == 0
    assert len(prompts) == 1  # the user was shown the code before the wait began


def test_the_code_runs_out_locally_when_the_user_never_confirms():
    provider = FakeProvider()  # expires_in 600, interval 5
    provider.device_answers = ["authorization_pending"] * 1000
    _, error, waits, _ = run(provider)
    assert isinstance(error, DeviceCodeExpiredError)
    assert sum(waits) == pytest.approx(600.0)  # never waits past the code's lifetime
    assert all(0 <= w <= 5.0 for w in waits)
    assert provider.requests[POLL] == 119  # the 120th wait reaches the deadline: no poll after it


def test_a_shorter_timeout_than_the_code_lifetime_wins():
    provider = FakeProvider()
    provider.device_answers = ["authorization_pending"] * 1000
    _, error, waits, _ = run(provider, timeout=12)
    assert isinstance(error, DeviceCodeExpiredError)
    assert waits == [5.0, 5.0, 2.0]


def test_server_errors_while_polling_back_off_and_keep_polling():
    provider = FakeProvider()
    provider.fail_next = [HTTPResponse(503, b"")]
    tokens, error, waits, _ = run(provider)
    assert error is None and tokens is not None
    assert waits == [5.0, 10.0]


def test_the_prompt_shows_the_user_code_and_complete_uri_but_never_the_device_code():
    provider = FakeProvider()
    _, _, _, prompts = run(provider)
    (prompt,) = prompts
    assert prompt.user_code == "ABCD-EFGH"
    assert prompt.verification_uri == f"{ISSUER}/activate"
    assert prompt.verification_uri_complete == f"{ISSUER}/activate?user_code=ABCD-EFGH"
    assert prompt.link == prompt.verification_uri_complete
    message = prompt.message()
    assert prompt.verification_uri_complete in message and "ABCD-EFGH" in message
    for text in (message, repr(prompt), str(prompt)):
        assert "dc-secret" not in text


def test_the_prompt_falls_back_to_the_plain_uri():
    prompt = DevicePrompt("WXYZ", "https://idp.test/activate", None, 600)
    assert prompt.link == "https://idp.test/activate"
    assert prompt.message() == "Open https://idp.test/activate and enter the code WXYZ"


def test_a_provider_without_device_flow_is_refused_before_any_request():
    provider = FakeProvider()
    doc = provider.metadata()
    del doc["device_authorization_endpoint"]
    clock = FakeClock()
    with pytest.raises(DiscoveryError, match="device_authorization_endpoint"):
        run_device_flow(
            ProviderMetadata.from_dict(doc),
            ClientAuth("notebook"),
            provider,
            scope="openid",
            on_prompt=lambda p: None,
            cancel=RecordingCancel(clock),  # type: ignore[arg-type]
            clock=clock,
        )
    assert sum(provider.requests.values()) == 0


# --- B6: a link from the provider is opened only if it is https (http on this computer) -----------------
class RewritingProvider:
    """The fake provider, with the device authorization answer's links replaced."""

    def __init__(self, provider: FakeProvider, **links: str | None) -> None:
        self.provider = provider
        self.links = links

    def __call__(self, method, url, *, headers=None, data=None):
        response = self.provider(method, url, headers=headers, data=data)
        if not url.endswith("/device"):
            return response
        doc = {**json.loads(response.body), **self.links}
        return HTTPResponse(
            response.status, json.dumps({k: v for k, v in doc.items() if v is not None}).encode()
        )


def run_with_links(**links: str | None):
    provider = FakeProvider()
    clock = FakeClock()
    prompts: list[DevicePrompt] = []
    with pytest.raises(OAuthError) as caught:
        run_device_flow(
            ProviderMetadata.from_dict(provider.metadata()),
            ClientAuth("notebook"),
            RewritingProvider(provider, **links),
            scope="openid",
            on_prompt=prompts.append,
            cancel=RecordingCancel(clock),  # type: ignore[arg-type]
            clock=clock,
        )
    assert prompts == []  # nothing reaches a browser, a panel or a terminal
    assert provider.requests[POLL] == 0
    return caught.value


@pytest.mark.parametrize(
    ("link", "scheme"),
    [
        ("javascript:alert(document.cookie)", "javascript:"),
        ("smb://evil.example/share", "smb:"),
        ("file:///etc/passwd", "file:"),
        ("JavaScript:alert(1)", "javascript:"),
        ("data:text/html,<script>alert(1)</script>", "data:"),
    ],
)
@pytest.mark.parametrize("field", ["verification_uri", "verification_uri_complete"])
def test_a_verification_link_with_another_scheme_is_refused(field, link, scheme):
    error = run_with_links(**{field: link})
    text = str(error)
    assert "the provider sent" in text
    assert scheme in text
    assert "\n" not in text
    assert "alert" not in text and "evil.example" not in text  # the link itself is not echoed


def test_a_verification_link_in_clear_to_another_computer_is_refused():
    error = run_with_links(verification_uri_complete=None, verification_uri="http://idp.example/activate")
    assert "plain http" in str(error)


def test_a_verification_link_in_clear_on_this_computer_is_allowed():
    provider = FakeProvider()
    clock = FakeClock()
    prompts: list[DevicePrompt] = []
    run_device_flow(
        ProviderMetadata.from_dict(provider.metadata()),
        ClientAuth("notebook"),
        RewritingProvider(
            provider, verification_uri="http://127.0.0.1:3000/activate", verification_uri_complete=None
        ),
        scope="openid",
        on_prompt=prompts.append,
        cancel=RecordingCancel(clock),  # type: ignore[arg-type]
        clock=clock,
    )
    assert prompts[0].link == "http://127.0.0.1:3000/activate"
