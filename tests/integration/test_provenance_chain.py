"""The provenance chain in a real ledger (SQLite and PostgreSQL): order, race-safe appends, append-only rows."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import ProvenanceLedger
from beampipe_provider.provenance.record import build_record
from beampipe_provider.provenance.verify import check_chain


def planned_runs(store: LedgerStore, n: int) -> list[str]:
    sources = [f"HIPASSJ{i:04d}+00" for i in range(n)]
    store.register_sources("WALLABY", [SourceRecord(source_id=s) for s in sources])
    store.record_datasets(
        [DatasetRecord(archive="casda", dataset_id=f"vis-{s}", survey="WALLABY", source_id=s) for s in sources]
    )
    return store.plan_runs("WALLABY", [f"vis-{s}" for s in sources], workflow="w", workflow_version="1").created


def maker(run_key: str):
    def make(previous: str | None) -> dict:
        return build_record(
            run={"run_key": run_key, "survey": "WALLABY"},
            inputs=[],
            workflow={"engine": "daliuge"},
            parameters={},
            environment={},
            execution={"state": "COMPLETED"},
            outputs=[],
            previous=previous,
        )

    return make


def test_records_chain_in_order_and_a_run_is_recorded_once(store: LedgerStore) -> None:
    key = Ed25519PrivateKey.generate()
    ledger = ProvenanceLedger(store.engine)
    runs = planned_runs(store, 3)
    envelopes = [ledger.append("WALLABY", r, maker(r), key) for r in runs]
    assert envelopes[0]["record"]["previous"] is None
    assert envelopes[2]["record"]["previous"] == envelopes[1]["record_sha256"]
    assert ledger.chain("WALLABY") == envelopes
    assert check_chain(ledger.chain("WALLABY")) == []
    assert ledger.append("WALLABY", runs[1], maker(runs[1]), key) == envelopes[1]  # once per run
    assert ledger.chain("WALLABY", until_run_key=runs[1]) == envelopes[:2]


def test_concurrent_appends_never_fork_the_chain(store: LedgerStore) -> None:
    key = Ed25519PrivateKey.generate()
    ledger = ProvenanceLedger(store.engine)
    runs = planned_runs(store, 8)
    barrier = threading.Barrier(len(runs))

    def append(run_key: str) -> None:
        barrier.wait()
        ledger.append("WALLABY", run_key, maker(run_key), key)

    threads = [threading.Thread(target=append, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    chain = ledger.chain("WALLABY")
    assert sorted(e["record"]["run"]["run_key"] for e in chain) == sorted(runs)
    assert check_chain(chain) == []


def test_records_are_append_only(store: LedgerStore) -> None:
    ledger = ProvenanceLedger(store.engine)
    (run,) = planned_runs(store, 1)
    ledger.append("WALLABY", run, maker(run), Ed25519PrivateKey.generate())
    for statement in ("UPDATE beampipe_provenance SET envelope = '{}'", "DELETE FROM beampipe_provenance"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
