"""Ledger throughput: record 10,000 new datasets and plan 10,000 runs, then the same again (all duplicates).

Prints rows/s and the ratio to a baseline measured in the same run: a plain DBAPI executemany INSERT of the same
rows into a bare table (no indexes, no constraints). Targets: planning new runs within 2x of the plain insert;
the all-duplicates pass faster than the new pass; peak memory (max RSS) under 300 MB. Planning writes three rows per
run (the run, its dataset link, its creation event), so it also prints the ratio to a plain insert of all three.

    .venv/bin/python bench/ledger.py [--rows 10000] [--dialect sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.store import LedgerStore
from tests.databases import fresh_postgres

PLAN = dict(workflow="wallaby-hires", workflow_version="1.0", parameters={"robust": 0.5})


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_insert(engine: sa.Engine, table: str, rows: list[dict]) -> float:
    """The baseline: the driver's own executemany into a bare table, one transaction."""
    columns = list(rows[0])
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    values = [tuple(json.dumps(v) if isinstance(v, dict) else v for v in row.values()) for row in rows]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} ({', '.join(f'{c} TEXT' for c in columns)})")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})", values
        )
        raw.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


def bench(url: str, n: int) -> None:
    engine = create_ledger_engine(url)
    migrate.upgrade(engine)
    store = LedgerStore(engine)
    sources = [SourceRecord(source_id=f"SRC{i:06d}") for i in range(n)]
    records = [
        DatasetRecord(
            dataset_id=f"visibility-{i}",
            survey="WALLABY",
            source_id=f"SRC{i:06d}",
            sbid=33681,
            filename=f"SRC{i:06d}_A_beam{i % 36:02d}_10arc_split.ms.tar",
            size=8_000_000_000 + i,
            access_url=f"https://casda.csiro.au/casda_vo_tools/datalink/links?ID=visibility-{i}",
            quality="GOOD",
            checksum=f"{i:032x}",
        )
        for i in range(n)
    ]
    ids = [r.dataset_id for r in records]
    store.register_sources("WALLABY", sources)

    dataset_rows = [r.model_dump(mode="json") | {"signature": r.signature()} for r in records]
    run_rows = [
        {
            "run_key": f"{i:064x}",
            "survey": "WALLABY",
            "source_id": f"SRC{i:06d}",
            "workflow": "wallaby-hires",
            "workflow_version": "1.0",
            "parameters": {"robust": 0.5},
            "state": "DISCOVERED",
            "attempt": 0,
            "created_at": "2026-01-01T00:00:00+00:00",
            "updated_at": "2026-01-01T00:00:00+00:00",
        }
        for i in range(n)
    ]
    base_datasets = plain_insert(engine, "bench_plain_datasets", dataset_rows)
    base_runs = plain_insert(engine, "bench_plain_runs", run_rows)
    # Planning writes three rows per run (run, dataset link, creation event): the floor for that is all three.
    base_plan_rows = (
        base_runs
        + plain_insert(engine, "bench_plain_links", [{"run_id": i, "dataset_pk": i} for i in range(n)])
        + plain_insert(
            engine,
            "bench_plain_events",
            [
                {
                    "run_key": r["run_key"],
                    "to_state": "DISCOVERED",
                    "at": r["created_at"],
                    "actor": "planner",
                    "detail": {"datasets": 1},
                }
                for r in run_rows
            ],
        )
    )

    results = {
        "record new": (timed(lambda: store.record_datasets(records)), base_datasets),
        "plan new": (timed(lambda: store.plan_runs("WALLABY", ids, **PLAN)), base_runs),
        "record duplicates": (timed(lambda: store.record_datasets(records)), base_datasets),
        "plan duplicates": (timed(lambda: store.plan_runs("WALLABY", ids, **PLAN)), base_runs),
    }
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM beampipe_runs")).scalar() == n
    print(
        f"\n{engine.dialect.name}: {n} rows; baselines (plain executemany): datasets {n / base_datasets:,.0f} rows/s, "
        f"runs {n / base_runs:,.0f} rows/s"
    )
    for name, (seconds, baseline) in results.items():
        print(f"  {name:<18} {seconds:7.3f} s  {n / seconds:>10,.0f} rows/s  {seconds / baseline:5.2f}x baseline")
    print(
        f"  plan new vs plain executemany of its run + link + event rows: "
        f"{results['plan new'][0] / base_plan_rows:.2f}x"
    )
    faster = results["plan duplicates"][0] < results["plan new"][0]
    print(
        f"  duplicates pass faster than new pass: plan {faster}, record "
        f"{results['record duplicates'][0] < results['record new'][0]}"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.dialect in ("sqlite", "both"):
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            bench(f"sqlite:///{tmp}/bench.db", args.rows)
        if args.dialect in ("postgresql", "both"):
            bench(stack.enter_context(fresh_postgres()), args.rows)
    print(f"\npeak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
