"""Eight OS processes racing on one ledger, and a claimant killed mid-claim: no duplicate, nothing lost."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore
from tests.integration import ledger_workers

WORKERS = 8
N = 1000
ROOT = Path(__file__).resolve().parents[2]


def _event_sequences(engine) -> dict[str, list[tuple[str | None, str, str]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT run_key, from_state, to_state, actor FROM beampipe_run_events ORDER BY id")
        ).all()
    sequences: dict[str, list[tuple[str | None, str, str]]] = {}
    for key, from_state, to_state, actor in rows:
        sequences.setdefault(key, []).append((from_state, to_state, actor))
    return sequences


def _assert_chained(sequences) -> None:
    """Each event starts where the previous one ended: no lost or doubled transition."""
    for key, events in sequences.items():
        assert events[0][0] is None, key
        for previous, current in itertools.pairwise(events):
            assert current[0] == previous[1], (key, events)


def test_eight_processes_record_plan_and_claim_the_same_1000_datasets(engine, ledger_url):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=ledger_workers.race, args=(ledger_url, f"worker-{i}", N, barrier, results))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert sum(new for _, new, _, _ in outcomes) == N  # each dataset reported new by exactly one worker
    created = [key for _, _, keys, _ in outcomes for key in keys]
    assert len(created) == len(set(created)) == N  # each run created by exactly one planner
    claims = Counter(key for _, _, _, keys in outcomes for key in keys)
    assert len(claims) == N  # every run claimed
    assert set(claims.values()) == {1}  # none twice

    with engine.connect() as conn:
        counts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM beampipe_runs), (SELECT count(*) FROM beampipe_run_datasets), "
                "(SELECT count(*) FROM beampipe_datasets), (SELECT count(*) FROM beampipe_sources)"
            )
        ).one()
    assert tuple(counts) == (N, N, N, N)
    sequences = _event_sequences(engine)
    _assert_chained(sequences)
    claimant = {key: name for name, _, _, keys in outcomes for key in keys}
    for key, events in sequences.items():
        assert [(f, t) for f, t, _ in events] == [(None, "DISCOVERED"), ("DISCOVERED", "CLAIMED")]
        assert events[1][2] == claimant[key]


def test_claimant_killed_mid_claim_loses_nothing(engine, ledger_url, clock):
    store = LedgerStore(engine)
    n = 100
    store.register_sources("WALLABY", ledger_workers.sources(n))
    records = ledger_workers.datasets(n)
    store.record_datasets(records)
    store.plan_runs("WALLABY", [r.dataset_id for r in records], **ledger_workers.PLAN)

    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.ledger_workers", ledger_url, "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    committed = []
    for line in child.stdout:
        if line.strip() == "HANG":
            break
        committed.append(line.strip())
    child.send_signal(signal.SIGKILL)  # holding locks inside its 4th claim transaction
    child.wait(timeout=30)
    assert len(committed) == 30

    # Later (after the child's 60 s claims expired), a survivor claims: it gets every run exactly once.
    clock.now = store.get_run(committed[0]).claim_expires_at + timedelta(seconds=1)
    survivor = LedgerStore(engine, clock=clock)
    taken: list = []
    deadline = time.monotonic() + 60  # PostgreSQL frees the dead session's row locks once it sees the socket close
    while len(taken) < n and time.monotonic() < deadline:
        taken += survivor.claim_runs("survivor", ttl=timedelta(minutes=5), limit=n)
    assert sorted(r.run_key for r in taken) == sorted(store.list_runs(limit=n).items[i].run_key for i in range(n))
    assert all(r.state is RunState.CLAIMED and r.claimed_by == "survivor" for r in taken)

    sequences = _event_sequences(engine)
    _assert_chained(sequences)
    for key, events in sequences.items():
        actors = [actor for _, _, actor in events]
        # The killed claim left no trace; the committed ones were reclaimed from "doomed".
        assert actors == (["planner", "doomed", "survivor"] if key in committed else ["planner", "survivor"])
