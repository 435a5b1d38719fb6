"""Admission control in a real deployment (scheduler, triggerer, two Celery workers) on the local cluster with
limits set on the test user's association: mapped tasks never overfill the queue, never meet an sbatch refusal,
and all finish; waiting works on the triggerer and in the worker; a limit changed while tasks wait is seen."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slurm_cluster import LocalSlurm
from tests.topology import AirflowCluster, airflow_cluster

DAGS = Path(__file__).parent / "dags_admission"


def set_max_submit(slurm: LocalSlurm, value: int) -> None:
    """MaxSubmitJobs on the test user's association (-1: none)."""
    slurm.admin("sacctmgr", "-i", "modify", "user", slurm.user, "set", f"MaxSubmitJobs={value}")


class QueueWatch:
    """Samples the test user's queue (squeue as root) every 0.2 s: the most jobs it ever held."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-u", self.user, "-o", "%i"], capture_output=True, text=True, check=True
        ).stdout
        return len(out.split())

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, self.now())
            time.sleep(0.2)

    def __enter__(self) -> QueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def cluster(slurm: LocalSlurm) -> Iterator[AirflowCluster]:
    env = {"AIRFLOW_CONN_SLURM_TEST": slurm.airflow_connection()}
    watch = QueueWatch(slurm.user)
    deadline = time.monotonic() + 120
    while watch.now():  # an earlier test's jobs would count against the limits set here
        assert time.monotonic() < deadline, "the test user's queue did not empty"
        time.sleep(1)
    try:
        with airflow_cluster(DAGS, env) as running:
            yield running
    finally:
        set_max_submit(slurm, -1)


def logs(cluster: AirflowCluster, dag_id: str, run_id: str) -> list[str]:
    return [
        cluster.task_log(dag_id, run_id, "job", t["try_number"], t["map_index"])
        for t in cluster.task_instances(dag_id, run_id)
    ]


def run_all(cluster: AirflowCluster, dag_id: str, conf: dict | None = None) -> tuple[str, list[dict]]:
    run_id = cluster.trigger(dag_id, conf)
    assert cluster.wait(dag_id, run_id, timeout=300) == "success"
    return run_id, cluster.task_instances(dag_id, run_id)


@pytest.mark.parametrize("dag_id", ["admission_deferrable", "admission_in_worker"])
def test_ten_tasks_never_hold_more_than_max_submit_jobs_and_all_finish(
    cluster: AirflowCluster, slurm: LocalSlurm, dag_id: str
) -> None:
    set_max_submit(slurm, 3)
    with QueueWatch(slurm.user) as watch:
        run_id, tasks = run_all(cluster, dag_id)
    assert watch.most == 3  # filled to the limit, never over it (Slurm would have refused a fourth)
    assert [(t["state"], t["try_number"]) for t in tasks] == [("success", 1)] * 10
    task_logs = logs(cluster, dag_id, run_id)
    assert any("Not submitting yet" in log for log in task_logs)  # some waited for room
    assert not any("sbatch refused" in log for log in task_logs)  # and none learnt of the limit from sbatch
    if dag_id == "admission_deferrable":
        assert any("3 of 3 jobs queued (MaxSubmitJobs 3)" in log for log in task_logs)


def test_a_facility_cap_below_the_sites_limits_is_kept(cluster: AirflowCluster, slurm: LocalSlurm) -> None:
    set_max_submit(slurm, -1)  # only the DAG's max_queued=2 holds the queue back: Slurm would take all four
    with QueueWatch(slurm.user) as watch:
        _, tasks = run_all(cluster, "admission_capped")
    assert watch.most == 2
    assert [t["state"] for t in tasks] == ["success"] * 4


def test_a_limit_raised_while_tasks_wait_is_picked_up(cluster: AirflowCluster, slurm: LocalSlurm) -> None:
    set_max_submit(slurm, 1)
    with QueueWatch(slurm.user) as watch:
        run_id = cluster.trigger("admission_deferrable", {"sleep": 40})
        deadline = time.monotonic() + 120
        while watch.most < 1:
            assert time.monotonic() < deadline, cluster.describe()
            time.sleep(0.5)
        time.sleep(3)
        assert watch.most == 1  # the others wait: one job while the limit is 1
        set_max_submit(slurm, 3)
        raised = time.monotonic()
        while (queued := watch.now()) < 3:
            # the limits are kept 5 s (limits_ttl): well before the first 40 s job ends, three are queued
            if time.monotonic() - raised > 30:
                tail = "\n".join(log[-3000:] for log in logs(cluster, "admission_deferrable", run_id))
                raise AssertionError(f"still {queued} queued 30 s on\n{tail}")
            time.sleep(0.5)
        cluster.api("PATCH", f"/api/v2/dags/admission_deferrable/dagRuns/{run_id}", json={"state": "failed"})
        slurm.admin("scancel", "-u", slurm.user)
    assert queued == 3
    assert watch.most <= 3
