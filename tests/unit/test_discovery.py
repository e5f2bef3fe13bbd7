"""Provider metadata: OIDC Discovery, RFC 8414 fallback, issuer checks, the per-process cache."""

from __future__ import annotations

import json

import pytest

from oauth_login._discovery import ProviderMetadata, clear_cache, discover, metadata_urls
from oauth_login._errors import DiscoveryError, TransportError
from oauth_login._transport import HTTPResponse


@pytest.fixture(autouse=True)
def _empty_cache():
    clear_cache()
    yield
    clear_cache()


class FakeHTTP:
    """Answers GETs from a {url: (status, doc)} table; records every URL asked for."""

    def __init__(self, answers: dict[str, tuple[int, object]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method, url, *, headers=None, data=None):
        self.calls.append((method, url))
        status, doc = self.answers.get(url, (404, None))
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode() if doc is not None else b""
        return HTTPResponse(status, body)


def doc_for(issuer: str, **extra) -> dict[str, object]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        **extra,
    }


def test_oidc_discovery_document_is_used():
    issuer = "https://idp.test"
    http = FakeHTTP(
        {
            f"{issuer}/.well-known/openid-configuration": (
                200,
                doc_for(
                    issuer,
                    device_authorization_endpoint=f"{issuer}/device",
                    revocation_endpoint=f"{issuer}/revoke",
                    code_challenge_methods_supported=["S256"],
                    authorization_response_iss_parameter_supported=True,
                ),
            )
        }
    )
    metadata = discover(issuer, http)
    assert http.calls == [("GET", f"{issuer}/.well-known/openid-configuration")]
    assert metadata.issuer == issuer
    assert metadata.authorization_endpoint == f"{issuer}/authorize"
    assert metadata.token_endpoint == f"{issuer}/token"
    assert metadata.device_authorization_endpoint == f"{issuer}/device"
    assert metadata.revocation_endpoint == f"{issuer}/revoke"
    assert metadata.code_challenge_methods_supported == ("S256",)
    assert metadata.authorization_response_iss_parameter_supported is True
    assert metadata.supports_device_flow is True


def test_404_falls_back_to_rfc8414_with_the_path_inserted_after_the_host():
    issuer = "https://h/tenant"
    http = FakeHTTP({"https://h/.well-known/oauth-authorization-server/tenant": (200, doc_for(issuer))})
    metadata = discover(issuer, http)
    assert [url for _, url in http.calls] == [
        "https://h/tenant/.well-known/openid-configuration",
        "https://h/.well-known/oauth-authorization-server/tenant",
    ]
    assert metadata.token_endpoint == "https://h/tenant/token"
    assert metadata.supports_device_flow is False


@pytest.mark.parametrize(
    ("issuer", "urls"),
    [
        (
            "https://h",
            [
                "https://h/.well-known/openid-configuration",
                "https://h/.well-known/oauth-authorization-server",
            ],
        ),
        (
            "https://h/",
            [
                "https://h/.well-known/openid-configuration",
                "https://h/.well-known/oauth-authorization-server",
            ],
        ),
        (
            "https://h:8443/a/b/",
            [
                "https://h:8443/a/b/.well-known/openid-configuration",
                "https://h:8443/.well-known/oauth-authorization-server/a/b",
            ],
        ),
    ],
)
def test_metadata_urls(issuer, urls):
    assert metadata_urls(issuer) == urls


def test_issuer_mismatch_is_an_error_with_a_hint_naming_the_real_issuer():
    http = FakeHTTP(
        {"https://idp.test/.well-known/openid-configuration": (200, doc_for("https://other.test"))}
    )
    with pytest.raises(DiscoveryError) as info:
        discover("https://idp.test", http)
    assert "https://other.test" in info.value.message
    assert info.value.hint == "use --issuer https://other.test"


def test_a_trailing_slash_difference_is_not_a_mismatch():
    http = FakeHTTP(
        {"https://idp.test/.well-known/openid-configuration": (200, doc_for("https://idp.test/"))}
    )
    assert discover("https://idp.test", http).issuer == "https://idp.test/"


@pytest.mark.parametrize(
    "issuer",
    [
        "http://idp.example.com",  # plain http to a remote host: tokens in clear text
        "ftp://idp.example.com",
        "idp.example.com",
        "https://",
        "https://idp.example.com?tenant=1",
        "https://idp.example.com/#frag",
    ],
)
def test_unusable_issuer_urls_are_rejected_before_any_request(issuer):
    http = FakeHTTP({})
    with pytest.raises(DiscoveryError):
        discover(issuer, http)
    assert http.calls == []


def test_plain_http_is_allowed_for_a_loopback_development_provider():
    issuer = "http://127.0.0.1:4000"
    http = FakeHTTP({f"{issuer}/.well-known/openid-configuration": (200, doc_for(issuer))})
    assert discover(issuer, http).issuer == issuer


def test_second_discovery_is_served_from_the_cache():
    issuer = "https://idp.test"
    http = FakeHTTP({f"{issuer}/.well-known/openid-configuration": (200, doc_for(issuer))})
    first = discover(issuer, http)
    assert discover(issuer, http) is first
    assert discover(issuer + "/", http) is first
    assert len(http.calls) == 1
    discover(issuer, http, use_cache=False)
    assert len(http.calls) == 2


def test_clear_cache_forgets():
    issuer = "https://idp.test"
    http = FakeHTTP({f"{issuer}/.well-known/openid-configuration": (200, doc_for(issuer))})
    discover(issuer, http)
    clear_cache()
    discover(issuer, http)
    assert len(http.calls) == 2


def test_failures_are_not_cached():
    issuer = "https://idp.test"
    http = FakeHTTP({})
    with pytest.raises(DiscoveryError):
        discover(issuer, http)
    http.answers[f"{issuer}/.well-known/openid-configuration"] = (200, doc_for(issuer))
    assert discover(issuer, http).issuer == issuer


def test_no_metadata_anywhere_lists_what_was_tried():
    http = FakeHTTP({"https://idp.test/.well-known/oauth-authorization-server": (403, None)})
    with pytest.raises(DiscoveryError) as info:
        discover("https://idp.test", http)
    assert "404 from /.well-known/openid-configuration" in str(info.value)
    assert "403 from /.well-known/oauth-authorization-server" in str(info.value)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_server_error_at_discovery_is_a_retryable_transport_error(status):
    http = FakeHTTP({"https://idp.test/.well-known/openid-configuration": (status, None)})
    with pytest.raises(TransportError):
        discover("https://idp.test", http)


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"[1, 2]", b'"text"'])
def test_metadata_that_is_not_a_json_object_is_rejected(body):
    http = FakeHTTP({"https://idp.test/.well-known/openid-configuration": (200, body)})
    with pytest.raises(DiscoveryError, match="not a JSON object"):
        discover("https://idp.test", http)


def test_metadata_without_issuer_is_rejected():
    with pytest.raises(DiscoveryError, match="'issuer'"):
        ProviderMetadata.from_dict({"token_endpoint": "https://idp.test/token"})


def test_network_failures_stay_transport_errors():
    def unreachable(method, url, *, headers=None, data=None):
        raise TransportError("could not reach idp.test: ConnectionError")

    with pytest.raises(TransportError):
        discover("https://idp.test", unreachable)


def test_require_returns_the_endpoint_or_names_the_missing_one():
    metadata = ProviderMetadata.from_dict(doc_for("https://idp.test"))
    assert metadata.require("token_endpoint") == "https://idp.test/token"
    with pytest.raises(DiscoveryError) as info:
        metadata.require("device_authorization_endpoint")
    assert "device_authorization_endpoint" in info.value.message
    assert "https://idp.test" in info.value.message
    assert "another mode" in info.value.hint


def test_from_dict_ignores_values_of_the_wrong_type():
    metadata = ProviderMetadata.from_dict(
        {
            "issuer": "https://idp.test",
            "token_endpoint": 5,
            "device_authorization_endpoint": "",
            "code_challenge_methods_supported": "S256",
            "token_endpoint_auth_methods_supported": ["none", 3, "client_secret_basic"],
            "authorization_response_iss_parameter_supported": "true",
        }
    )
    assert metadata.token_endpoint is None
    assert metadata.supports_device_flow is False
    assert metadata.code_challenge_methods_supported == ()
    assert metadata.token_endpoint_auth_methods_supported == ("none", "client_secret_basic")
    assert metadata.authorization_response_iss_parameter_supported is False  # only a JSON true counts


def test_grant_types_default_per_rfc8414():
    metadata = ProviderMetadata.from_dict({"issuer": "https://idp.test"})
    assert metadata.grant_types_supported == ("authorization_code", "implicit")


# --- the cache is keyed by what affects the fetch -----------------------------------------------------
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_fetch_without_tls_checks_is_not_reused_by_a_client_that_checks(tmp_path, monkeypatch):
    from oauth_login._transport import InsecureTransportWarning, RequestsTransport
    from tests.local_servers import self_signed_cert, serve

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    cert = self_signed_cert(tmp_path)
    issuer: list[str] = []

    def answer(seen):
        return 200, {"Content-Type": "application/json"}, json.dumps(doc_for(issuer[0])).encode()

    with serve(answer, tls=cert) as server:
        issuer.append(server.base_url)
        with pytest.warns(InsecureTransportWarning):
            insecure = RequestsTransport(verify=False)
        assert discover(server.base_url, insecure).issuer == server.base_url
        with pytest.raises(TransportError, match="SSLError"):
            discover(server.base_url, RequestsTransport())  # checks the certificate: no cached answer
        trusted = discover(server.base_url, RequestsTransport(verify=str(cert.cert)))
        assert discover(server.base_url, RequestsTransport(verify=str(cert.cert))) is trusted  # still cached
    assert len(server.seen) == 2


# --- endpoints must be https unless they are on this computer -----------------------------------------
@pytest.mark.parametrize(
    "endpoint",
    [
        "authorization_endpoint",
        "token_endpoint",
        "device_authorization_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ],
)
def test_an_endpoint_in_clear_off_this_computer_is_refused(endpoint):
    issuer = "https://idp.test"
    doc = doc_for(issuer, **{endpoint: "http://idp.test/x"})
    http = FakeHTTP({f"{issuer}/.well-known/openid-configuration": (200, doc)})
    with pytest.raises(DiscoveryError) as caught:
        discover(issuer, http)
    assert endpoint in caught.value.message
    assert "http://idp.test/x" in caught.value.message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "smb://idp.test/x", "/token", "https://"])
def test_an_endpoint_that_is_not_an_https_url_is_refused(url):
    issuer = "https://idp.test"
    http = FakeHTTP(
        {f"{issuer}/.well-known/openid-configuration": (200, doc_for(issuer, token_endpoint=url))}
    )
    with pytest.raises(DiscoveryError, match="token_endpoint"):
        discover(issuer, http)


@pytest.mark.parametrize("host", ["127.0.0.1:4000", "localhost:4000", "[::1]:4000"])
def test_endpoints_in_clear_on_this_computer_are_allowed(host):
    issuer = f"http://{host}"
    http = FakeHTTP({f"{issuer}/.well-known/openid-configuration": (200, doc_for(issuer))})
    assert discover(issuer, http).token_endpoint == f"{issuer}/token"


def test_clients_with_the_same_tls_settings_share_the_cache(tmp_path):
    from oauth_login._transport import RequestsTransport
    from tests.local_servers import serve

    issuer: list[str] = []

    def answer(seen):
        return 200, {"Content-Type": "application/json"}, json.dumps(doc_for(issuer[0])).encode()

    with serve(answer) as server:
        issuer.append(server.base_url)
        transport = RequestsTransport()
        first = discover(server.base_url, transport)
        assert discover(server.base_url, transport) is first
        assert discover(server.base_url, RequestsTransport()) is first
    assert len(server.seen) == 1
