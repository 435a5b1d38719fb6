"""A real Airflow DAG that touches the ledger through LedgerHook (used by tests/e2e)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["beampipe-test"])
def beampipe_ledger_smoke() -> None:
    @task
    def register_and_plan() -> dict[str, list[str]]:
        from beampipe_provider.hooks.ledger import LedgerHook
        from beampipe_provider.ledger.records import DatasetRecord, SourceRecord

        store = LedgerHook().get_store()
        registered = store.register_sources("WALLABY", [SourceRecord(source_id="HIPASSJ1303+07")])
        store.record_datasets([DatasetRecord(dataset_id="visibility-1", survey="WALLABY", source_id="HIPASSJ1303+07")])
        plan = store.plan_runs("WALLABY", ["visibility-1"], workflow="wallaby-hires", workflow_version="1.0")
        return {"registered": registered.created, "created": plan.created, "existing": plan.existing}

    register_and_plan()


beampipe_ledger_smoke()
