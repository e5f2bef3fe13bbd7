"""`make bench` keeps working: every benchmark runs once, small, against the real parts.

Nothing here asserts a timing (timings belong to `make bench`); it asserts that each benchmark
measures what it claims, e.g. that 50 threads on an expired token made exactly one token request.
"""

from __future__ import annotations

import pytest

from benchmarks import core, notebook, relay

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_core_benchmarks_run(idp, oauth_env):
    rows = [core.bench_import(runs=1), core.bench_get_token_hot(number=1000, repeat=2)]
    rows.append(core.bench_thundering_herd(idp, core._signed_in_client(idp), threads=10, rounds=2))
    rows.append(core.bench_login_overhead(idp, rounds=2))
    assert [r.name for r in rows] == [
        "import oauth_login",
        "get_token() hot path",
        "10 threads, expired token",
        "login overhead",
    ]
    assert "heavy modules imported: []" in rows[0].notes[0]
    assert rows[2].measured.startswith("{1} req")  # one refresh per expiry, whatever the timing
    assert all(r.measured for r in rows)


def test_notebook_and_relay_benchmarks_run(oauth_env):
    # oauth_env: the kernels these start inherit a private state dir and profiles file.
    rows = [
        notebook.bench_load_ext(runs=1),
        notebook.bench_warm_login(runs=1),
        relay.bench_callback_to_kernel(rounds=2),
    ]
    assert [r.name for r in rows] == [
        "%load_ext oauth_login",
        "warm %oauth_login",
        "callback → code in kernel",
    ]
    assert all(r.measured.endswith("ms") for r in rows)
