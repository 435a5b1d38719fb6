"""A Slurm job watched with a long poll interval, so a test can kill the task after the job ended and before the
task saw it (used by tests/e2e/test_no_silent_loss.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from beampipe_provider.operators.slurm import SlurmJobOperator


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_slurm_kill() -> None:
    SlurmJobOperator(
        task_id="job",
        ssh_conn_id="slurm_test",
        command="{{ dag_run.conf['command'] }}",
        run_key="{{ dag_run.conf['run_key'] }}",
        sbatch_options={"time": "5", "output": "bp-e2e-%j.out"},
        poll_interval=120.0,
        deferrable=False,
    )


beampipe_slurm_kill()
