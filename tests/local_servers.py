"""Tiny real HTTP(S) servers for the tests: each records what it saw and answers from a callback.

``serve()`` starts one on a loopback address (``127.0.0.2`` counts as another host to ``requests``:
the hostname differs), ``tls=...`` wraps it in TLS with a self-signed certificate made here.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    authorization: str
    body: bytes


# (request seen) -> (status, headers, body)
Answer = Callable[[Seen], "tuple[int, dict[str, str], bytes]"]


@dataclass
class LocalServer:
    base_url: str
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authorizations(self) -> list[str]:
        with self.lock:
            return [s.authorization for s in self.seen]


@dataclass(frozen=True)
class SelfSignedCert:
    cert: Path  # PEM certificate, also the CA bundle a client must trust
    key: Path


def self_signed_cert(directory: Path, address: str = "127.0.0.1") -> SelfSignedCert:
    """A certificate for ``address`` (an IP SAN), valid a day; ``cryptography`` comes with the test extra."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = SelfSignedCert(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@contextmanager
def serve(
    answer: Answer, *, address: str = "127.0.0.1", tls: SelfSignedCert | None = None
) -> Iterator[LocalServer]:
    """Serve ``answer`` on ``address``:<free port> until the block ends (then the port is freed)."""
    state = LocalServer("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command,
                self.path,
                self.headers.get("Authorization") or "",
                self.rfile.read(length) if length else b"",
            )
            with state.lock:
                state.seen.append(seen)
            status, headers, body = answer(seen)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.base_url = f"{'https' if tls else 'http'}://{address}:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
