"""Refresh-token rotation with many threads in many processes sharing one store: one refresh per expiry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import oauth_login
from oauth_login._stores import select_store
from tests.child_lines import ChildLines
from tests.integration.refresh_worker import round_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
THREADS = 8
ROUNDS = 3


def wait_until_refresh_due() -> None:
    entry = select_store("file").load("default")
    creds = oauth_login.Credentials.from_entry(entry["credentials"])
    # Nothing signals "the token is now due": wait for the clock itself.
    time.sleep(max(0.0, creds.refresh_due(60.0) - time.time()) + 0.05)


def test_threads_and_processes_share_one_refresh_per_expiry(idp_env, user, monkeypatch):
    monkeypatch.setenv("OAUTH_LOGIN_CLIENT_ID", "short-lived")
    oauth_login.login()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.refresh_worker", str(THREADS)],
            cwd=ROOT,
            env=dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [ChildLines(w.stdout, f"refresh worker {i}") for i, w in enumerate(workers)]
    try:
        for out in outputs:
            assert out.line(60).strip() == "ready"
        seen: set[str] = set()
        with ThreadPoolExecutor(PROCESSES + 1) as pool:
            for _ in range(ROUNDS):
                wait_until_refresh_due()
                idp_env.reset()
                for w in workers:
                    w.stdin.write("go\n")
                    w.stdin.flush()
                local = pool.submit(round_of, THREADS)
                # Each worker's round is bounded inside it (round_of): 90 s covers it plus start-up.
                results = [json.loads(out.line(90)) for out in outputs] + [local.result(90)]
                errors = [e for r in results for e in r["errors"]]
                tokens = {t for r in results for t in r["tokens"]}
                stats = idp_env.stats()
                assert errors == []
                assert sum(len(r["tokens"]) for r in results) == (PROCESSES + 1) * THREADS
                assert len(tokens) == 1, "every caller must get the one refreshed token"
                assert not tokens & seen, "each round is a new expiry, so a new token"
                seen |= tokens
                assert stats["token_requests"]["refresh_token"] == 1
                assert stats["token_errors"]["invalid_grant"] == 0
    finally:
        for w in workers:
            w.stdin.close()  # "no more rounds": a worker that is still well exits at once
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()  # a hung worker must not outlive the test; the assertions above say why
                w.wait(30)
            w.stdout.close()
