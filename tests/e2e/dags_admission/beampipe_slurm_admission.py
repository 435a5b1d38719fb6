"""Ten mapped Slurm jobs against an account whose queue holds fewer (used by tests/e2e/test_slurm_admission.py):
the same DAG waiting on the triggerer (deferrable) and in the worker, and one under a facility cap."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from beampipe_provider.operators.slurm import SlurmJobOperator


def mapped_jobs(*, deferrable: bool, count: int, max_queued: int | None = None) -> None:
    SlurmJobOperator.partial(
        task_id="job",
        ssh_conn_id="slurm_test",
        command="sleep {{ dag_run.conf.get('sleep', 3) }}",
        sbatch_options={"time": "5", "output": "/dev/null"},
        queue_group="admission-test",
        max_queued=max_queued,
        poll_interval=1.0,
        limits_ttl=5.0,  # a changed site limit is seen within seconds, for the test
        deferrable=deferrable,
    ).expand(parameters=[{"N": str(i)} for i in range(count)])


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def admission_deferrable() -> None:
    mapped_jobs(deferrable=True, count=10)


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def admission_in_worker() -> None:
    mapped_jobs(deferrable=False, count=10)


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def admission_capped() -> None:
    mapped_jobs(deferrable=True, count=4, max_queued=2)


admission_deferrable()
admission_in_worker()
admission_capped()
