"""The HTTP transport really checks TLS certificates unless told otherwise, and says so loudly then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from oauth_login._client import OAuthClient
from oauth_login._errors import ConfigurationError, TransportError
from oauth_login._profiles import Profile
from oauth_login._stores import MemoryStore
from oauth_login._transport import InsecureTransportWarning, RequestsTransport
from tests.local_servers import LocalServer, SelfSignedCert, self_signed_cert, serve


@pytest.fixture
def cert(tmp_path: Path) -> SelfSignedCert:
    return self_signed_cert(tmp_path)


@pytest.fixture
def tls_server(cert: SelfSignedCert) -> Iterator[LocalServer]:
    """An https server on 127.0.0.1 whose certificate no default CA bundle trusts."""
    with serve(lambda seen: (200, {"Content-Type": "application/json"}, b"{}"), tls=cert) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_the_default_transport_verifies_certificates(tls_server):
    with pytest.raises(TransportError, match="SSLError"):
        RequestsTransport()("GET", f"{tls_server.base_url}/x")
    assert tls_server.seen == []  # the handshake failed: nothing was sent


def test_the_default_transport_on_a_callers_session_verifies_too(tls_server):
    with requests.Session() as session, pytest.raises(TransportError, match="SSLError"):
        RequestsTransport(session)("GET", f"{tls_server.base_url}/x")


def test_a_ca_bundle_path_makes_the_certificate_trusted(tls_server, cert):
    assert RequestsTransport(verify=str(cert.cert))("GET", f"{tls_server.base_url}/x").status == 200


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_warns_and_connects(tls_server):
    with pytest.warns(InsecureTransportWarning, match="verify=False"):
        transport = RequestsTransport(verify=False)
    assert transport("GET", f"{tls_server.base_url}/x").status == 200


def test_a_client_built_from_a_default_profile_verifies_certificates(tls_server):
    client = OAuthClient(Profile(issuer=tls_server.base_url, client_id="cli"), store=MemoryStore())
    with pytest.raises(TransportError, match="SSLError"):
        client.metadata()


@pytest.mark.parametrize("value", [0, "", 1, 0.0])
def test_a_verify_that_only_looks_false_is_refused(value):
    with pytest.raises(ConfigurationError, match="verify"):
        RequestsTransport(verify=value)  # type: ignore[arg-type]
