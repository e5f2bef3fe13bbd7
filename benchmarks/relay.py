"""Relay benchmark: the redirect reaches the Jupyter server → the code is in the kernel (long-poll)."""

from __future__ import annotations

import secrets
import statistics
import threading
import time
import urllib.request
from urllib.parse import urlencode

from benchmarks.core import Row


def bench_callback_to_kernel(rounds: int = 60) -> Row:
    """A real jupyter server with the extension; this process plays the kernel (ServerRelay) and the
    browser (one GET of the callback). Timed from sending the callback to ``wait()`` returning."""
    from devtools.jupyter import JupyterServer
    from oauth_login._relay import ServerRelay

    samples = []
    with JupyterServer("lab") as server:
        relay = ServerRelay(server.url, server.token, "runtime file")
        for _ in range(rounds + 5):
            state = secrets.token_urlsafe(32)
            attempt = relay.register(
                state=state,
                authorization_url="https://idp.invalid/auth?x=1",
                redirect_uri="http://127.0.0.1/cb",
                ttl=60,
            )
            received: list[float] = []
            waiting = threading.Event()

            def kernel(attempt_id: str = attempt["id"], out: list[float] = received, waiting=waiting) -> None:
                waiting.set()
                relay.wait(attempt_id, timeout=30, idle_timeout=None, cancelled=threading.Event())
                out.append(time.perf_counter())

            thread = threading.Thread(target=kernel)
            thread.start()
            waiting.wait()
            # Give the kernel's long-poll time to be parked at the server: the interesting case.
            time.sleep(0.02)
            query = urlencode({"code": "c-" + secrets.token_hex(4), "state": state})
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{server.url}oauth-login/callback?{query}", timeout=10) as page:
                page.read()
            thread.join()
            samples.append((received[0] - t0) * 1000)
    median = statistics.median(samples[5:])
    return Row(
        "callback → code in kernel",
        f"{median:.2f} ms",
        "<= 10 ms",
        median <= 10,
        [
            f"jupyter server + extension, kernel long-polling; median of {rounds} (includes the callback's "
            "own HTTP round trip)"
        ],
    )


def run_all() -> list[Row]:
    return [bench_callback_to_kernel()]
