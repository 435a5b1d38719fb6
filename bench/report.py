"""The survey report's cost against the number of runs it covers.

For each size: a fresh SQLite ledger with that many SUCCEEDED runs of one survey, each with a signed, chained
provenance record; then the time of `summarise` with the survey's public key (what the report task and
`beampipe runs report --public-key` do). Linear means a flat time per run down the table; the report used to
re-read and re-walk the chain for every run (quadratic: doubling the runs quadrupled the time).

    .venv/bin/python bench/report.py [--runs 250 500 1000 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import ProvenanceLedger
from beampipe_provider.provenance.record import build_record
from beampipe_provider.surveys.report import summarise


def survey_of(store: LedgerStore, count: int, key: Ed25519PrivateKey) -> list[str]:
    sources = [f"HIPASSJ{i:05d}+00" for i in range(count)]
    store.register_sources("WALLABY", [SourceRecord(source_id=s) for s in sources])
    store.record_datasets(
        [DatasetRecord(archive="casda", dataset_id=f"vis-{s}", survey="WALLABY", source_id=s) for s in sources]
    )
    runs = store.plan_runs("WALLABY", [f"vis-{s}" for s in sources], workflow="w", workflow_version="1").created
    store.claim_runs("bench", ttl=timedelta(hours=1), limit=count)
    ledger = ProvenanceLedger(store)
    for run_key in runs:
        store.transition(run_key, expected=RunState.CLAIMED, to=RunState.SUBMITTED, actor="bench")
        store.transition(run_key, expected=RunState.SUBMITTED, to=RunState.SUCCEEDED, actor="bench")
        ledger.append(
            "WALLABY",
            run_key,
            lambda previous, run_key=run_key: build_record(
                run={"run_key": run_key, "survey": "WALLABY"},
                inputs=[],
                workflow={},
                parameters={},
                environment={},
                execution={},
                outputs=[],
                previous=previous,
            ),
            key,
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[250, 500, 1000, 2000])
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    print(f"{'runs':>6} {'report s':>9} {'ms per run':>10}")
    for count in args.runs:
        with tempfile.TemporaryDirectory(prefix="beampipe-bench-report-") as directory:
            engine = create_ledger_engine(f"sqlite:///{directory}/ledger.db")
            migrate.upgrade(engine)
            store = LedgerStore(engine)
            runs = survey_of(store, count, key)
            start = time.perf_counter()
            report = summarise(store, runs, key.public_key())
            elapsed = time.perf_counter() - start
            if any(str(s.provenance) != "verified" for s in report):
                raise SystemExit("the bench ledger does not verify: the numbers would mean nothing")
            print(f"{count:>6} {elapsed:>9.2f} {1000 * elapsed / count:>10.2f}")
            engine.dispose()


if __name__ == "__main__":
    main()
