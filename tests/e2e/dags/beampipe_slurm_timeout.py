"""A Slurm job that outlives its task's execution_timeout (used by tests/e2e): the job must be cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from beampipe_provider.operators.slurm import SlurmJobOperator


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_slurm_timeout() -> None:
    SlurmJobOperator(
        task_id="job",
        ssh_conn_id="slurm_test",
        command="sleep 300",
        run_key="{{ dag_run.conf['run_key'] }}",
        sbatch_options={"time": "10", "output": "bp-e2e-%j.out"},
        poll_interval=1.0,
        execution_timeout=timedelta(seconds=20),
    )


beampipe_slurm_timeout()
