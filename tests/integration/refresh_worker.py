"""A worker process for the rotation test: on each "go" line, 8 threads call get_token() at once.

It prints one JSON line per round with a short hash of each token (never the token) and any errors.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time

import oauth_login


def round_of(threads: int, call_timeout: float = 60) -> dict[str, list[str]]:
    """``threads`` calls of get_token() released at once; a call stuck past ``call_timeout`` is an error.

    Bounded so that a hang (a lock never released, a refresh that never returns) comes back to the
    test as an error line it prints, instead of a worker the test waits on until its own timeout.
    """
    barrier = threading.Barrier(threads)
    tokens: list[str] = []
    errors: list[str] = []

    def call() -> None:
        try:
            barrier.wait(call_timeout)
            tokens.append(hashlib.sha256(oauth_login.get_token().encode()).hexdigest()[:16])
        except threading.BrokenBarrierError:
            errors.append(f"the {threads} threads did not all start within {call_timeout:g} s")
        except oauth_login.OAuthLoginError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=call, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + call_timeout
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(w.is_alive() for w in workers)
    if stuck:
        errors.append(f"{stuck} of {threads} get_token() calls did not return within {call_timeout:g} s")
    return {"tokens": list(tokens), "errors": list(errors)}


def main() -> None:
    threads = int(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        print(json.dumps(round_of(threads)), flush=True)


if __name__ == "__main__":
    main()
