"""The WALLABY survey in the docker-compose topology, run natively: scheduler, dag-processor, triggerer, two Celery
workers (Redis broker) and the api-server, metadata and ledger on PostgreSQL. `airflow backfill create` re-discovers
past windows once; a second backfill of the same windows makes no run; the event-driven DAG (an AssetWatcher on
CASDA) then takes the remaining deposit, and the ledger keeps every run single across both DAGs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore
from tests.casda_emulator import RunningEmulator, casda_emulator
from tests.e2e.survey import ledger_store, survey_env
from tests.topology import AirflowCluster, ClusterError, airflow_cluster

DAG_ID = "wallaby_hires"
EVENTS_DAG_ID = "wallaby_hires_events"
# Three deposited scheduling blocks, one a day from 2024-03-01, three sources each (the emulator's WALLABY seed).
DEPOSIT_DAYS = [datetime(2024, 3, day).date() for day in (1, 2, 3)]


@pytest.fixture
def three_days() -> Iterator[RunningEmulator]:
    with casda_emulator("--seed", "wallaby", "--sbids", "3") as emulator:
        yield emulator


@pytest.fixture
def deployment(survey_dags, three_days, slurm, pg_ledger, staging) -> Iterator[tuple[AirflowCluster, LedgerStore]]:
    store = ledger_store(pg_ledger)
    url = store.engine.url
    ledger = json.dumps(
        {
            "conn_type": "beampipe_ledger",
            "host": url.host,
            "port": url.port,
            "login": url.username,
            "schema": url.database,
            "extra": {"dialect": "postgresql"},
        }
    )
    env, _ = survey_env(survey_dags, three_days, slurm, ledger, staging)
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"  # each DAG starts when the test says so
    with airflow_cluster(survey_dags, env) as cluster:
        yield cluster, store


def backfill_runs(cluster: AirflowCluster, timeout: float) -> list[dict]:
    """The DAG's backfill runs once the backfill is complete (the next one can only start then)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill"}).json()
        runs = runs["dag_runs"]
        backfills = cluster.api("GET", "/api/v2/backfills", params={"dag_id": DAG_ID}).json()["backfills"]
        if runs and backfills and all(b["completed_at"] for b in backfills):
            return runs
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise ClusterError(f"backfill not finished after {timeout:.0f} s: {runs}\n{cluster.describe()}")
        time.sleep(2)


def days_covered(runs: list[dict]) -> list:
    """Deposit days inside the runs' data intervals [start, end)."""
    intervals = [
        (datetime.fromisoformat(r["data_interval_start"]).date(), datetime.fromisoformat(r["data_interval_end"]).date())
        for r in runs
    ]
    return [day for day in DEPOSIT_DAYS if any(start <= day < end for start, end in intervals)]


def wait_succeeded(cluster: AirflowCluster, store: LedgerStore, count: int, timeout: float) -> None:
    """Until `count` runs succeeded. Any DAG run may process them: the ledger is the survey's queue."""
    deadline = time.monotonic() + timeout
    while len(done := [r for r in snapshot(store) if r[2] is RunState.SUCCEEDED]) < count:
        cluster.check_alive()
        assert time.monotonic() < deadline, f"{len(done)} of {count} runs succeeded\n{cluster.describe()}"
        time.sleep(3)


def hostnames(cluster: AirflowCluster, dag_id: str) -> set[str]:
    runs = cluster.api("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
    return {t["hostname"] for r in runs for t in cluster.task_instances(dag_id, r["dag_run_id"]) if t["hostname"]}


def snapshot(store: LedgerStore) -> list[tuple[str, str, RunState, str | None, int]]:
    return [(r.run_key, r.source_id, r.state, r.scheduler_job_id, r.attempt) for r in store.list_runs("WALLABY").items]


def test_backfill_and_asset_events_process_each_deposit_once(deployment) -> None:
    cluster, store = deployment
    cluster.wait_for_dag(DAG_ID)
    cluster.wait_for_dag(EVENTS_DAG_ID)
    cluster.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})  # a paused DAG's backfill waits
    window = ("--dag-id", DAG_ID, "--from-date", "2024-03-01", "--to-date", "2024-03-02")
    cluster.airflow("backfill", "create", *window)

    runs = backfill_runs(cluster, timeout=420)
    assert {r["state"] for r in runs} == {"success"}, runs
    assert days_covered(runs) == DEPOSIT_DAYS[:2], runs  # [03-01, 03-02) and [03-02, 03-03)
    wait_succeeded(cluster, store, 6, timeout=300)
    first = snapshot(store)
    assert len(first) == 6  # one run per source per deposited block in the windows
    assert len({job for *_, job, _ in first}) == len(first)

    # The same windows again, reprocessing completed runs: the DAG re-discovers every deposit, the ledger plans
    # nothing new, no job is submitted.
    cluster.airflow("backfill", "create", *window, "--reprocess-behavior", "completed")
    time.sleep(5)  # the scheduler picks the new backfill up
    assert {r["state"] for r in backfill_runs(cluster, timeout=300)} == {"success"}
    assert snapshot(store) == first

    # The event-driven DAG: the watcher announces every deposit since the survey's start; only the block no
    # backfill covered makes new runs.
    cluster.api("PATCH", f"/api/v2/dags/{EVENTS_DAG_ID}", json={"is_paused": False})
    expected = 3 * len(DEPOSIT_DAYS)
    wait_succeeded(cluster, store, expected, timeout=420)
    final = snapshot(store)
    assert len(final) == expected
    assert len({job for *_, job, _ in final}) == expected
    assert [row for row in final if row[0] in {key for key, *_ in first}] == first  # nothing re-run
    event_runs = cluster.api("GET", f"/api/v2/dags/{EVENTS_DAG_ID}/dagRuns").json()["dag_runs"]
    assert event_runs
    assert {r["run_type"] for r in event_runs} == {"asset_triggered"}
    assert set(cluster.workers) <= hostnames(cluster, DAG_ID) | hostnames(cluster, EVENTS_DAG_ID)  # both worked
