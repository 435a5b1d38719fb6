"""A real Airflow DAG running the demo WALLABY DALiuGE graph on the local Slurm cluster (used by tests/e2e)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import dag

from beampipe_provider.operators.daliuge import SlurmDaliugeOperator

GRAPH = Path(__file__).resolve().parents[3] / "dags" / "graphs" / "wallaby_hires_demo.graph"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_daliuge_run() -> None:
    SlurmDaliugeOperator(
        task_id="graph",
        ssh_conn_id="slurm_test",
        graph=str(GRAPH),
        facility="local",
        datasets="{{ dag_run.conf['datasets'] | tojson }}",
        run_key="{{ dag_run.conf['run_key'] }}",
        parameters={
            "summary.filepath": "{outputs}/summary.txt",
            "summary.dropclass": "{{ dag_run.conf.get('summary_class', 'dlg.data.drops.file.FileDROP') }}",
            "note": "{{ dag_run.conf.get('note', '') }}",
        },
        provenance_key_conn_id="{{ dag_run.conf.get('provenance_key') or '' }}",
        poll_interval=1.0,
    )


beampipe_daliuge_run()
