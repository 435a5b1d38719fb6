"""Real Airflow DAGs around CasdaDepositSensor, in poke and deferrable mode (used by tests/e2e)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from beampipe_provider.sensors.casda import CasdaDepositSensor

WALLABY = dict(
    survey="WALLABY",
    project_codes=["AS102"],
    collections=["WALLABY"],
    dataproduct_types=["visibility"],
    filename_patterns=["%_10arc_split.ms.tar"],
    poke_interval=1,
    timeout=120,
)


def casda_dag(dag_id: str, deferrable: bool) -> None:
    # Daily data intervals [logical date, +1 day): what `airflow backfill create` walks through.
    @dag(dag_id=dag_id, schedule=timedelta(days=1), start_date=datetime(2024, 3, 1), catchup=False)
    def casda_deposits() -> None:
        found = CasdaDepositSensor(task_id="find_deposits", deferrable=deferrable, **WALLABY)

        @task
        def summarise(datasets: list[dict]) -> str:
            return ",".join(f"{d['dataset_id']}:{d['ledger_status']}" for d in datasets)

        summarise(found.output)

    casda_deposits()


casda_dag("beampipe_casda_poke", deferrable=False)
casda_dag("beampipe_casda_deferrable", deferrable=True)
