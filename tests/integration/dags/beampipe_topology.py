"""Work for every Celery worker plus one deferral for the triggerer (used by tests/integration/test_topology.py)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from airflow.providers.standard.sensors.time_delta import WaitSensor
from airflow.sdk import dag, task

PARALLEL = 6  # more than one worker's slots (2 workers x concurrency 2): both workers must take some


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["beampipe-test"])
def beampipe_topology() -> None:
    @task
    def spread(i: int) -> int:
        time.sleep(4)  # hold the slot, so the other worker picks up the next task
        return i

    @task
    def gather(done: list[int]) -> int:
        assert sorted(done) == list(range(PARALLEL))
        return len(done)

    # Defers on a worker, the triggerer fires it and (end_from_trigger) finishes the task itself.
    wait = WaitSensor(task_id="wait", time_to_wait=timedelta(seconds=5), deferrable=True)
    wait >> gather(spread.expand(i=list(range(PARALLEL))))


beampipe_topology()
