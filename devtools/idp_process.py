"""Run the development OpenID provider (devtools/idp/server.js) as a child process.

Stdlib only, so it works before any of the package's dependencies are installed::

    with DevIdP() as idp:
        print(idp.issuer)               # http://127.0.0.1:PORT
        client = idp.register_client(redirect_uris=[...], application_type="native", ...)
        idp.reset(); ...; idp.stats()["token_requests"]["refresh_token"]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no cross-process lock; run one test session at a time there
    fcntl = None  # type: ignore[assignment]

__all__ = ["IDP_DIR", "DevIdP", "DevIdPError"]

IDP_DIR = Path(__file__).resolve().parent / "idp"


class DevIdPError(RuntimeError):
    """The dev provider could not be installed, started or asked something."""


def _pinned_version() -> str:
    return json.loads((IDP_DIR / "package.json").read_text())["dependencies"]["oidc-provider"]


def _installed_version() -> str | None:
    manifest = IDP_DIR / "node_modules" / "oidc-provider" / "package.json"
    # npm writes its hidden lockfile last: without it, an install was interrupted.
    if not (manifest.exists() and (IDP_DIR / "node_modules" / ".package-lock.json").exists()):
        return None
    return json.loads(manifest.read_text())["version"]


@contextmanager
def _install_lock() -> Iterator[None]:
    """Serialize installs across processes: two pytest runs in one tree must not run `npm ci` at once
    (one deletes node_modules while the other's node is loading it)."""
    name = hashlib.sha256(str(IDP_DIR).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"oauth-login-idp-{name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_node_modules() -> None:
    """Install the locked npm dependencies unless the pinned oidc-provider is already there."""
    with _install_lock():
        if _installed_version() != _pinned_version():
            _npm_ci()


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DevIdPError("npm not found on PATH: install Node.js 20+ to run the dev provider")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=IDP_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise DevIdPError(f"npm ci failed in {IDP_DIR}:\n{done.stdout}\n{done.stderr}")


class DevIdP:
    """A running dev provider on an ephemeral loopback port; a context manager."""

    def __init__(self, *, host: str = "127.0.0.1", startup_timeout: float = 60.0, verbose: bool = False):
        self.host = host
        self.startup_timeout = startup_timeout
        self.verbose = verbose
        self.issuer = ""
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._discovery: dict[str, Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> DevIdP:
        ensure_node_modules()
        node = shutil.which("node")
        if node is None:
            raise DevIdPError("node not found on PATH: install Node.js 20+ to run the dev provider")
        # stderr goes to a file: a pipe nobody reads could fill up and block node. It lives as long
        # as the process, so stop() closes it rather than a with-block.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        args = [node, str(IDP_DIR / "server.js"), "--host", self.host, "--port", "0", "--exit-on-stdin-eof"]
        if self.verbose:
            args.append("--verbose")
        self._proc = subprocess.Popen(
            args,
            cwd=IDP_DIR,
            stdin=subprocess.PIPE,  # held open: node exits when we die (see --exit-on-stdin-eof)
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        line = self._read_ready_line()
        try:
            self.issuer = json.loads(line)["issuer"]
        except (ValueError, KeyError, TypeError) as exc:
            self.stop()
            raise DevIdPError(f"unexpected first line from the dev provider: {line!r}") from exc
        return self

    def _read_ready_line(self) -> str:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        stdout = proc.stdout
        lines: list[str] = []
        # readline() has no timeout; a helper thread lets us give up on a node that never gets ready.
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if lines and lines[0]:
            return lines[0]
        reason = "exited" if proc.poll() is not None else f"was not ready in {self.startup_timeout:g}s"
        proc.kill()  # ends a blocked readline(): node's stdout closes
        proc.wait()
        reader.join(10)  # bounded too: a child of node could still hold the pipe open (daemon thread)
        stderr = self._stderr_text()
        self.stop()
        raise DevIdPError(f"dev provider {reason}; its stderr:\n{stderr}")

    def _stderr_text(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return str(self._stderr.read())

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> DevIdP:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- HTTP helpers ----------------------------------------------------------------------------
    def _request(self, url: str, *, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace")
            raise DevIdPError(f"{method} {url} -> {exc.code}: {detail}") from exc
        return json.loads(payload) if payload else None

    @property
    def discovery(self) -> dict[str, Any]:
        """The provider's OpenID discovery document (fetched once)."""
        if self._discovery is None:
            self._discovery = self._request(f"{self.issuer}/.well-known/openid-configuration")
        return self._discovery

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset: token requests by grant_type, token errors by code, revocations."""
        return dict(self._request(f"{self.issuer}/_test/stats"))

    def reset(self) -> None:
        """Zero the counters returned by stats()."""
        self._request(f"{self.issuer}/_test/reset", method="POST")

    def register_client(self, **metadata: Any) -> dict[str, Any]:
        """Register a client dynamically (RFC 7591); returns the registration response (client_id ...).

        Extra metadata understood by the dev provider: ``access_token_ttl`` (seconds).
        """
        return dict(self._request(self.discovery["registration_endpoint"], method="POST", body=metadata))
