"""A real Airflow DAG running the demo WALLABY CWL workflow with cwltool on the local Slurm cluster (tests/e2e)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import dag

from beampipe_provider.operators.workflow import SlurmWorkflowOperator

WORKFLOW = Path(__file__).resolve().parents[3] / "dags" / "workflows" / "wallaby_measure.cwl"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_cwl_run() -> None:
    SlurmWorkflowOperator(
        task_id="workflow",
        ssh_conn_id="slurm_test",
        engine="cwl",
        workflow=str(WORKFLOW),
        workflow_options={"input_name": "datasets"},
        facility="local",
        datasets="{{ dag_run.conf['datasets'] | tojson }}",
        run_key="{{ dag_run.conf['run_key'] }}",
        parameters={"note": "{{ dag_run.conf.get('note', '') }}"},
        provenance_key_conn_id="{{ dag_run.conf.get('provenance_key') or '' }}",
        poll_interval=1.0,
    )


beampipe_cwl_run()
