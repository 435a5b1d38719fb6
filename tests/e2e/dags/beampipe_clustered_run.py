"""A DALiuGE run on a facility profile that names its Slurm cluster (`clusters`), as Setonix's does (tests/e2e)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import dag

from beampipe_provider.operators.daliuge import SlurmDaliugeOperator

GRAPH = Path(__file__).resolve().parents[3] / "dags" / "graphs" / "wallaby_hires_demo.graph"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_clustered_run() -> None:
    SlurmDaliugeOperator(
        task_id="graph",
        ssh_conn_id="slurm_test",
        graph=str(GRAPH),
        facility="{{ dag_run.conf['facility'] }}",
        datasets="{{ dag_run.conf['datasets'] | tojson }}",
        run_key="{{ dag_run.conf['run_key'] }}",
        parameters={"summary.filepath": "{outputs}/summary.txt"},
        poll_interval=1.0,
        deferrable=False,
    )


beampipe_clustered_run()
