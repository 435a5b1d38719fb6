"""Code that runs in separate OS processes for the race and crash tests (spawned: nothing is shared but the DB)."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.store import LedgerStore

PLAN = dict(workflow="wallaby-hires", workflow_version="1.0", parameters={"robust": 0.5})


def sources(n: int) -> list[SourceRecord]:
    return [SourceRecord(source_id=f"SRC{i:05d}") for i in range(n)]


def datasets(n: int) -> list[DatasetRecord]:
    return [
        DatasetRecord(dataset_id=f"visibility-{i}", survey="WALLABY", source_id=f"SRC{i:05d}", size=i, sbid=1)
        for i in range(n)
    ]


def race(url: str, name: str, n: int, barrier: Any, results: Any) -> None:
    """Register, record, plan and claim everything, at the same moment as the other workers."""
    store = LedgerStore(create_ledger_engine(url))
    srcs, records = sources(n), datasets(n)
    barrier.wait()
    store.register_sources("WALLABY", srcs)
    new = store.record_datasets(records).new
    created = store.plan_runs("WALLABY", [r.dataset_id for r in records], **PLAN).created
    claimed: list[str] = []
    while batch := store.claim_runs(name, ttl=timedelta(hours=1), limit=25):
        claimed.extend(r.run_key for r in batch)
    results.put((name, len(new), created, claimed))


def claim_then_hang(url: str, batches: int) -> None:
    """Claim `batches` batches (committed), then stop inside the next claim with its rows locked, until killed."""
    engine = create_ledger_engine(url)
    store = LedgerStore(engine)
    for _ in range(batches):
        for run in store.claim_runs("doomed", ttl=timedelta(seconds=60), limit=10):
            print(run.run_key, flush=True)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _hang_before_update(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            print("HANG", flush=True)
            time.sleep(3600)

    store.claim_runs("doomed", ttl=timedelta(seconds=60), limit=10)
    sys.exit("unreachable: the claim should have hung")


if __name__ == "__main__":
    claim_then_hang(sys.argv[1], int(sys.argv[2]))
