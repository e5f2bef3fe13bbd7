"""The test infrastructure works on its own: dev provider, headless browser, their helpers.

Nothing from oauth_login is imported here, so a failure points at the infrastructure.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

import devtools.browser
from devtools.browser import BrowserThread, complete_device, complete_login, open_page
from devtools.idp_process import DevIdP

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class LoopbackPage:
    """A throwaway HTTP server on 127.0.0.1:0 that records request paths and answers with ``body``."""

    def __init__(self, body: str = "<p id='done'>callback received</p>"):
        hits: list[str] = []
        page = body.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackPage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)  # serve_forever() has returned after shutdown(); bounded all the same

    def queries(self, path: str = "/callback") -> list[dict[str, str]]:
        parsed = [urllib.parse.urlsplit(hit) for hit in self.hits]
        return [dict(urllib.parse.parse_qsl(p.query)) for p in parsed if p.path == path]


@pytest.fixture
def loopback() -> Iterator[LoopbackPage]:
    with LoopbackPage() as server:
        yield server


def post_form(url: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    request.add_header("accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")


def authorization_url(idp: DevIdP, redirect_uri: str, **params: str) -> tuple[str, str]:
    """A PKCE S256 authorization request; returns (url, code_verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": "notebook",
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": "openid profile email",
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return f"{idp.discovery['authorization_endpoint']}?{urllib.parse.urlencode(query)}", verifier


def login_and_exchange(
    idp: DevIdP, browser: BrowserThread, redirect_uri: str, **params: str
) -> tuple[int, dict[str, Any]]:
    url, verifier = authorization_url(idp, redirect_uri, **params)
    result = browser.submit(complete_login, url, expect_url_prefix=redirect_uri).result()
    callback = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(result.url).query))
    return post_form(
        idp.discovery["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": params.get("client_id", "notebook"),
        },
    )


def jwt_payload(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_discovery_lists_every_endpoint_the_client_uses(idp: DevIdP) -> None:
    meta = idp.discovery
    for endpoint in (
        "authorization_endpoint",
        "token_endpoint",
        "device_authorization_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
        "registration_endpoint",
    ):
        assert meta[endpoint].startswith(idp.issuer + "/"), endpoint
    assert meta["issuer"] == idp.issuer
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_code_flow_returns_code_state_and_iss_and_tokens(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    idp.reset()
    redirect_uri = f"{loopback.base}/callback"
    url, verifier = authorization_url(
        idp, redirect_uri, scope="openid profile email offline_access", prompt="consent", state="st-1"
    )

    result = browser.submit(complete_login, url, expect_url_prefix=redirect_uri).result()

    assert result.status == 200
    assert result.text == "callback received"
    assert result.steps == ["login", "consent"]
    (callback,) = loopback.queries()
    assert callback["state"] == "st-1"
    assert callback["iss"] == idp.issuer
    status, tokens = post_form(
        idp.discovery["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": "notebook",
        },
    )
    assert status == 200, tokens
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()
    assert tokens["expires_in"] == 3600
    claims = jwt_payload(tokens["id_token"])
    assert claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice Liddell"
    assert idp.stats()["token_requests"]["authorization_code"] == 1


def test_offline_access_is_dropped_without_prompt_consent(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    status, tokens = login_and_exchange(
        idp, browser, f"{loopback.base}/callback", scope="openid offline_access"
    )
    assert status == 200, tokens
    assert "refresh_token" not in tokens


def test_reused_rotated_refresh_token_is_invalid_grant_and_counted(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    _, tokens = login_and_exchange(
        idp, browser, f"{loopback.base}/callback", scope="openid offline_access", prompt="consent"
    )
    idp.reset()
    refresh = {"grant_type": "refresh_token", "client_id": "notebook"}
    token_endpoint = idp.discovery["token_endpoint"]

    status, rotated = post_form(token_endpoint, {**refresh, "refresh_token": tokens["refresh_token"]})
    assert status == 200, rotated
    assert rotated["refresh_token"] != tokens["refresh_token"]
    status, error = post_form(token_endpoint, {**refresh, "refresh_token": tokens["refresh_token"]})

    assert status == 400
    assert error["error"] == "invalid_grant"
    stats = idp.stats()
    assert stats["token_requests"]["refresh_token"] == 2
    assert stats["token_errors"]["invalid_grant"] == 1
    # Reuse detection revokes the whole grant, including the refresh token issued by the rotation.
    status, error = post_form(token_endpoint, {**refresh, "refresh_token": rotated["refresh_token"]})
    assert error["error"] == "invalid_grant"


def test_revocation_is_counted(idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage) -> None:
    _, tokens = login_and_exchange(idp, browser, f"{loopback.base}/callback")
    idp.reset()
    status, _ = post_form(
        idp.discovery["revocation_endpoint"], {"token": tokens["access_token"], "client_id": "notebook"}
    )
    assert status == 200
    assert idp.stats()["revocations"] == 1
    status, introspection = post_form(
        idp.discovery["introspection_endpoint"], {"token": tokens["access_token"], "client_id": "notebook"}
    )
    assert introspection == {"active": False}


def test_deny_redirects_with_access_denied(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    redirect_uri = f"{loopback.base}/callback"
    url, _ = authorization_url(idp, redirect_uri)

    result = browser.submit(complete_login, url, consent="deny", expect_url_prefix=redirect_uri).result()

    (callback,) = loopback.queries()
    assert callback["error"] == "access_denied"
    assert callback["iss"] == idp.issuer
    assert "code" not in callback
    assert result.url.startswith(redirect_uri)


def test_existing_session_skips_the_login_form_but_not_consent(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    redirect_uri = f"{loopback.base}/callback"
    with browser.session() as shared:
        first = shared.submit(complete_login, authorization_url(idp, redirect_uri)[0]).result()
        second = shared.submit(complete_login, authorization_url(idp, redirect_uri)[0]).result()

    assert first.steps == ["login", "consent"]
    assert second.steps == ["consent"]  # native clients always get the consent prompt
    assert [q.keys() >= {"code", "iss"} for q in loopback.queries()] == [True, True]


def test_short_lived_client_gets_two_second_access_tokens(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    status, tokens = login_and_exchange(idp, browser, f"{loopback.base}/callback", client_id="short-lived")
    assert status == 200, tokens
    assert tokens["expires_in"] == 2


def test_registered_client_gets_its_own_access_token_ttl(
    idp: DevIdP, browser: BrowserThread, loopback: LoopbackPage
) -> None:
    client = idp.register_client(
        application_type="native",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        redirect_uris=["http://127.0.0.1/callback"],
        access_token_ttl=5,
    )
    status, tokens = login_and_exchange(
        idp, browser, f"{loopback.base}/callback", client_id=client["client_id"]
    )
    assert status == 200, tokens
    assert tokens["expires_in"] == 5


def test_device_flow_yields_a_token(idp: DevIdP, browser: BrowserThread) -> None:
    idp.reset()
    status, device = post_form(
        idp.discovery["device_authorization_endpoint"], {"client_id": "notebook", "scope": "openid email"}
    )
    assert status == 200, device
    poll = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": "notebook"}
    status, pending = post_form(idp.discovery["token_endpoint"], poll)
    assert pending["error"] == "authorization_pending"

    text = browser.submit(complete_device, device["verification_uri_complete"]).result()

    assert "succeeded" in text
    status, tokens = post_form(idp.discovery["token_endpoint"], poll)
    assert status == 200, tokens
    assert jwt_payload(tokens["id_token"])["email"] == "alice@example.com"
    stats = idp.stats()
    assert stats["token_requests"][DEVICE_GRANT] == 2
    assert stats["token_errors"]["authorization_pending"] == 1


def test_open_page_records_dialogs(browser: BrowserThread) -> None:
    with LoopbackPage("<p>page</p><script>alert('xss ran')</script>") as server:
        result = browser.submit(open_page, f"{server.base}/").result()
    assert result.dialogs == ["xss ran"]
    assert result.text == "page"


def test_a_browser_job_that_never_ends_fails_the_wait_with_its_name(
    browser: BrowserThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every wait on a browser job is bounded, even a bare .result(): a stuck page fails the test
    # with the job's name instead of eating the test's whole timeout.
    monkeypatch.setattr(devtools.browser, "DEFAULT_JOB_TIMEOUT_S", 0.2)
    release = threading.Event()

    def stuck_job(page: Page) -> str:
        release.wait(30)  # bounded too: the browser thread must come back for the next tests
        return "released"

    job = browser.submit(stuck_job)
    try:
        with pytest.raises(TimeoutError, match=r"browser job stuck_job did not finish within 0\.2 s"):
            job.result()
    finally:
        release.set()
    assert job.result(timeout=30) == "released"


def requested_urls(page: Page, url: str) -> list[str]:
    """A browser job: every URL the page requests while loading ``url``."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(url, wait_until="load")
    return urls


def test_provider_pages_load_nothing_from_elsewhere(idp: DevIdP, browser: BrowserThread) -> None:
    url, _ = authorization_url(idp, "http://127.0.0.1/callback")
    login = browser.submit(open_page, url).result()
    assert "Sign in" in login.text
    assert login.console_errors == []
    error = browser.submit(open_page, f"{idp.issuer}/auth?client_id=nobody").result()
    assert error.status == 400
    assert "invalid_client" in error.text
    for page_url in (url, f"{idp.issuer}/auth?client_id=nobody", f"{idp.issuer}/device"):
        urls = browser.submit(requested_urls, page_url).result()
        assert [u for u in urls if not u.startswith(idp.issuer + "/")] == []


def run_cli(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.browser", url, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_returns_after_the_redirect_target_loaded(idp: DevIdP, loopback: LoopbackPage) -> None:
    url, _ = authorization_url(idp, f"{loopback.base}/callback")
    done = run_cli(url)
    assert done.returncode == 0, done.stderr
    assert "code" in loopback.queries()[0]


def test_cli_fails_in_one_line_on_a_wrong_password(idp: DevIdP, loopback: LoopbackPage) -> None:
    url, _ = authorization_url(idp, f"{loopback.base}/callback")
    done = run_cli(url, "--password", "nope")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "login as 'alice' failed" in done.stderr
    assert loopback.hits == []
