"""A real Airflow DAG staging one planned run's CASDA datasets (used by tests/e2e)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from beampipe_provider.operators.casda import CasdaStageOperator


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def beampipe_casda_stage() -> None:
    CasdaStageOperator(
        task_id="stage",
        run_key="{{ dag_run.conf['run_key'] }}",
        directory="{{ dag_run.conf['directory'] }}",
    )


beampipe_casda_stage()
