"""End to end: the public API against the real provider (oidc-provider) with headless Chromium."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

import oauth_login
from devtools.browser import complete_device, open_page
from oauth_login._client import OAuthClient
from oauth_login._profiles import Profile
from oauth_login._stores import FileStore
from oauth_login._transport import RequestsTransport
from tests.ports import port_is_free

pytestmark = pytest.mark.integration


def userinfo(idp, token: str) -> int:
    endpoint = idp.discovery["userinfo_endpoint"]
    request = urllib.request.Request(endpoint, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def raw_refresh(idp, refresh_token: str, client_id: str = "notebook") -> dict:
    data = f"grant_type=refresh_token&client_id={client_id}&refresh_token={refresh_token}".encode()
    request = urllib.request.Request(idp.discovery["token_endpoint"], data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return json.load(exc)


class RecordingTransport(RequestsTransport):
    """The real transport, keeping every form body sent, to learn the code and verifier we used."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, str]] = []

    def __call__(self, method, url, *, headers=None, data=None):
        if data:
            self.bodies.append(dict(data))
        return super().__call__(method, url, headers=headers, data=data)


def test_full_loopback_login_then_the_token_calls_the_api(idp_env, user):
    idp_env.reset()
    creds = oauth_login.login()
    assert user.result().text.startswith("Signed in")
    assert creds.account == "alice@example.com"
    assert creds.refresh_token and creds.id_token
    assert "offline_access" in creds.scopes
    assert userinfo(idp_env, oauth_login.get_token()) == 200
    assert oauth_login.status().signed_in
    assert idp_env.stats()["token_requests"]["authorization_code"] == 1
    # The browser went through the single-use start URL on the receiver's own port.
    assert urlsplit(user.links[0]).path.startswith("/start/")


def test_requests_session_and_auth_use_the_token(idp_env, user):
    oauth_login.login()
    endpoint = idp_env.discovery["userinfo_endpoint"]
    import requests

    assert requests.get(endpoint, auth=oauth_login.auth(), timeout=10).json()["sub"] == "alice"
    with oauth_login.session() as s:
        assert s.get(endpoint, timeout=10).status_code == 200


def test_user_denies_gives_access_denied(idp_env, user):
    user.kwargs = {"consent": "deny"}
    with pytest.raises(oauth_login.AccessDeniedError) as info:
        oauth_login.login()
    assert "approve" in info.value.hint
    page = user.result()
    assert page.status == 400 and "access_denied" in page.text
    assert oauth_login.status().state == "error"


def test_favicon_junk_and_an_idle_socket_do_not_disturb_the_login(idp_env, browser):
    client = oauth_login.client()
    seen: list[str] = []
    attempt = client.start_login(open_browser=lambda link: seen.append(link) or True)
    port = urlsplit(_wait_link(attempt)).port
    idle = socket.create_connection(("127.0.0.1", port))  # like Chromium's pre-connected sockets
    try:
        for path in ("/favicon.ico", "/../../etc/passwd", "/callback/extra", "/start/guess"):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
            assert info.value.code == 404
            info.value.close()
        result = browser.submit(complete_login_job(), attempt.link).result(60)
        assert result.text.startswith("Signed in")
        assert attempt.wait(30).account == "alice@example.com"
    finally:
        idle.close()
    assert port_is_free(port)


def complete_login_job():
    from devtools.browser import complete_login

    return complete_login


def _wait_link(attempt) -> str:
    assert attempt.link_ready.wait(30), "the attempt never produced a link"
    return attempt.link


def test_wrong_and_replayed_state_are_refused_and_the_login_survives(idp_env, browser):
    client = oauth_login.client()
    first = client.start_login(open_browser=lambda link: True, show_link=lambda *a: None)
    port = urlsplit(_wait_link(first)).port
    forged = f"http://127.0.0.1:{port}/callback?code=stolen&state=forged&iss={idp_env.issuer}"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(forged, timeout=10)
    assert info.value.code == 400
    info.value.close()
    done = browser.submit(complete_login_job(), first.link).result(60)
    first.wait(30)
    callback_url = done.url  # the real redirect, with the real code and state
    assert "code=" in callback_url

    # Replayed into a new attempt's receiver: refused, and that attempt still completes.
    second = client.start_login(open_browser=lambda link: True, show_link=lambda *a: None)
    new_port = urlsplit(_wait_link(second)).port
    replay = urlsplit(callback_url)._replace(netloc=f"127.0.0.1:{new_port}").geturl()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(replay, timeout=10)
    assert info.value.code == 400
    info.value.close()
    browser.submit(complete_login_job(), second.link).result(60)
    assert second.wait(30).account == "alice@example.com"


def test_xss_in_error_description_is_escaped(idp_env, browser):
    client = oauth_login.client()
    attempt = client.start_login(open_browser=lambda link: True, show_link=lambda *a: None)
    start = _wait_link(attempt)
    # Read the state from the start URL's redirect (the start URL is single use: we spend it here).
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(start, timeout=10)
    location = info.value.headers["Location"]
    info.value.close()
    state = parse_qs(urlsplit(location).query)["state"][0]
    payload = "<script>alert('xss')</script><img src=x onerror=alert(2)>"
    query = urllib.parse.urlencode(
        {"error": "access_denied", "error_description": payload, "state": state, "iss": idp_env.issuer}
    )
    port = urlsplit(start).port
    page = browser.submit(open_page, f"http://127.0.0.1:{port}/callback?{query}").result(60)
    assert page.dialogs == []
    assert payload in page.text  # shown as text, not run
    with pytest.raises(oauth_login.AccessDeniedError):
        attempt.wait(30)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_timeout_frees_the_port(idp_env):
    client = oauth_login.client()
    attempt = client.start_login(timeout=0.5, open_browser=lambda link: True, show_link=lambda *a: None)
    port = urlsplit(_wait_link(attempt)).port
    with pytest.raises(oauth_login.LoginTimeoutError) as info:
        attempt.wait(30)
    assert "start the sign-in again" in str(info.value)
    attempt.join(30)
    assert port_is_free(port), "the attempt's receiver still holds its port 30 s after the timeout"


def test_refresh_after_expiry_with_a_short_token_lifetime(idp_env, user, monkeypatch):
    monkeypatch.setenv("OAUTH_LOGIN_CLIENT_ID", "short-lived")
    creds = oauth_login.login()
    assert creds.expires_in is not None and creds.expires_in <= 2
    first = oauth_login.get_token()
    idp_env.reset()
    # No event marks a token's expiry at the provider: wait for its clock to pass it.
    time.sleep(max(0.0, creds.expires_at.timestamp() - time.time()) + 0.2)
    assert userinfo(idp_env, first) == 401
    second = oauth_login.get_token()
    assert second != first
    assert userinfo(idp_env, second) == 200
    assert idp_env.stats()["token_requests"]["refresh_token"] == 1


def test_device_flow_completed_in_the_browser(idp_env, user):
    user.job = complete_device
    idp_env.reset()
    creds = oauth_login.login(mode="device")
    assert "sign-in complete" in user.result().lower()
    assert creds.account == "alice@example.com"
    assert urlsplit(user.links[0]).query.startswith("user_code=")
    assert idp_env.stats()["token_requests"]["urn:ietf:params:oauth:grant-type:device_code"] >= 1


def test_logout_with_revoke_kills_the_refresh_token_at_the_provider(idp_env, user):
    creds = oauth_login.login()
    idp_env.reset()
    assert oauth_login.logout(revoke=True) is True
    assert idp_env.stats()["revocations"] >= 1
    assert raw_refresh(idp_env, creds.refresh_token)["error"] == "invalid_grant"
    assert userinfo(idp_env, creds.access_token) == 401
    assert oauth_login.status().state == "signed_out"
    with pytest.raises(oauth_login.NotSignedInError):
        oauth_login.get_token()


def test_nothing_secret_reaches_logs_or_stderr_at_debug(idp_env, user, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    transport = RecordingTransport()
    profile = Profile(issuer=idp_env.issuer, client_id="short-lived")
    client = OAuthClient(profile, store=FileStore(), request=transport)
    creds = client.login()
    page = user.result()
    time.sleep(max(0.0, creds.expires_at.timestamp() - time.time()))  # expire, to log a refresh too
    client.get_token()
    refreshed = client._creds
    client.logout(revoke=True)
    callback = parse_qs(urlsplit(page.url).query)
    secrets = {
        creds.access_token,
        creds.refresh_token,
        creds.id_token,
        refreshed.access_token,
        refreshed.refresh_token,
        callback["code"][0],
        callback["state"][0],
        *(b["code_verifier"] for b in transport.bodies if "code_verifier" in b),
    }
    assert len(secrets) >= 7
    out, err = capfd.readouterr()
    logged = caplog.text + out + err + repr(creds) + str(creds) + repr(client) + repr(client.status())
    assert "refreshed the access token" in caplog.text  # DEBUG logging was really on
    for secret in secrets:
        assert secret not in logged
