"""The test harness's deployment (tests/topology.py): a DAG run over both Celery workers and the triggerer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology import AirflowCluster, airflow_cluster

pytestmark = pytest.mark.integration

DAGS = Path(__file__).with_name("dags")
DAG_ID = "beampipe_topology"


@pytest.fixture(scope="module")
def cluster() -> Iterator[AirflowCluster]:
    with airflow_cluster(DAGS) as running:
        yield running


def test_a_run_uses_both_workers_and_the_triggerer(cluster: AirflowCluster) -> None:
    run_id = cluster.trigger(DAG_ID, {"purpose": "topology"})
    assert cluster.wait(DAG_ID, run_id, timeout=150) == "success", cluster.describe()

    tasks = cluster.task_instances(DAG_ID, run_id)
    assert {t["state"] for t in tasks} == {"success"}, tasks
    assert {t["hostname"] for t in tasks if t["task_id"] == "spread"} == set(cluster.workers), tasks

    # The sensor deferred on a worker; the triggerer ran its trigger and (end_from_trigger) finished the task.
    log = cluster.task_log(DAG_ID, run_id, "wait")
    assert "Pausing task as DEFERRED." in log, log
    assert log.index("Pausing task as DEFERRED.") < log.index("trigger starting") < log.index("Trigger fired event")
    assert "Sensor time condition reached; marking task successful" in log, log
