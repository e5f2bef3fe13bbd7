"""A worker process for the rotation test: on each "go" line, 8 threads call get_token() at once.

It prints one JSON line per round with a short hash of each token (never the token) and any errors.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading

import oauth_login


def round_of(threads: int) -> dict[str, list[str]]:
    barrier = threading.Barrier(threads)
    tokens: list[str] = []
    errors: list[str] = []

    def call() -> None:
        barrier.wait()
        try:
            tokens.append(hashlib.sha256(oauth_login.get_token().encode()).hexdigest()[:16])
        except oauth_login.OAuthLoginError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"tokens": tokens, "errors": errors}


def main() -> None:
    threads = int(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        print(json.dumps(round_of(threads)), flush=True)


if __name__ == "__main__":
    main()
