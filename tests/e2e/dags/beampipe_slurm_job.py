"""A real Airflow DAG running one Slurm job over SSH (used by tests/e2e). Deferrable or not follows
[operators] default_deferrable, as for any operator."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from beampipe_provider.operators.slurm import SlurmJobOperator


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_slurm_job() -> None:
    SlurmJobOperator(
        task_id="job",
        ssh_conn_id="slurm_test",
        command="{{ dag_run.conf['command'] }}",
        run_key="{{ dag_run.conf.get('run_key') or '' }}",
        parameters={"GREETING": "{{ dag_run.conf.get('greeting', 'hello') }}"},
        sbatch_options={
            "time": "{{ dag_run.conf.get('time', '5') }}",
            "output": "bp-e2e-%j.out",
            "partition": "{{ dag_run.conf.get('partition', 'work') }}",
        },
        poll_interval=1.0,
    )


beampipe_slurm_job()
