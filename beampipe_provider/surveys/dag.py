"""The DAG factory: a survey YAML file -> the survey's DAG. A survey team's DAG file is two lines:

    from beampipe_provider.surveys.dag import survey_dag
    dag = survey_dag(__file__, "surveys/wallaby_hires.yaml")

find_deposits (the survey's archive, this data interval) -> plan (ledger: registered, enabled sources) -> run[i]
(a task group mapped per run: stage, fetch and verify -> process, the workflow engine's job, capped per facility)
-> report (states, provenance, overdue).
`survey_event_dag` builds the event-driven variant: an Asset whose AssetWatcher polls the archive schedules it.
Parsing reads only the YAML and checks that its files exist: no network, no database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from airflow.sdk import (
    DAG,
    Asset,
    AssetWatcher,
    DeltaDataIntervalTimetable,
    TriggerRule,
    XComArg,
    get_current_context,
    task,
    task_group,
)
from airflow.sdk.exceptions import AirflowException

from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.operators.stage import StageOperator
from beampipe_provider.operators.workflow import SlurmWorkflowOperator
from beampipe_provider.sensors.deposits import DepositSensor
from beampipe_provider.surveys.callbacks import give_up_callback
from beampipe_provider.surveys.config import SurveyConfig, load_survey, resolve
from beampipe_provider.triggers.deposits import DepositEventTrigger
from beampipe_provider.triggers.events import DepositAnnouncement

log = logging.getLogger(__name__)


def _load(dag_file: str | Path, survey_file: str | Path) -> tuple[SurveyConfig, Path]:
    return load_survey(resolve(Path(dag_file).resolve().parent, str(survey_file)))


def _dag_args(config: SurveyConfig) -> dict[str, Any]:
    return {
        "description": config.description
        or f"{config.survey}: {config.archive.name} deposits -> {config.workflow.name} on Slurm",
        "start_date": config.schedule.start_date,
        "tags": ["beampipe", config.survey, *config.tags],
        "default_args": {
            "retries": config.retries.retries,
            "retry_delay": config.retries.retry_delay,
        },
    }


def survey_dag(dag_file: str | Path, survey_file: str | Path) -> DAG:
    """The survey's periodic DAG: one run per data interval, so `airflow backfill create` re-polls past windows."""
    config, base = _load(dag_file, survey_file)
    with DAG(
        dag_id=config.dag_id,
        # Real intervals [T, T + every): a backfill from D1 to D2 re-polls exactly the deposits of those days.
        schedule=DeltaDataIntervalTimetable(config.schedule.every),
        catchup=config.schedule.catchup,
        max_active_runs=1,  # intervals in order; the ledger would keep overlapping ones single anyway
        doc_md=__doc__,
        **_dag_args(config),
    ) as dag:
        found = DepositSensor(
            task_id="find_deposits",
            archive=config.archive.name,
            archive_conn_id=config.archive.connection,
            rules=config.rules(),
            batch_size=100_000,  # every dataset of the interval is recorded and planned; `batch.size` caps the runs
            lookback=config.schedule.every,  # a manual run at T (empty interval) looks at [T - every, T)
            min_sources=config.batch.min_sources,
            max_wait=config.batch.max_wait,
            timeout=config.lifetime.sensor_timeout.total_seconds(),
            poke_interval=config.schedule.poke_interval.total_seconds(),
            mode="reschedule",  # between pokes the worker slot is free (deferrable mode frees it too)
            beampipe_ledger_conn_id=config.ledger_conn_id,
        )
        _process(config, base, found.output)
    return dag


def survey_event_dag(dag_file: str | Path, survey_file: str | Path) -> DAG:
    """`<dag_id>_events`: scheduled by an Asset whose AssetWatcher yields one event per poll that found deposits;
    each event's datasets are recorded and go through the same plan -> stage -> process -> report.
    (Asset-scheduled DAGs cannot be backfilled: re-processing old windows is the periodic DAG's job.)"""
    config, base = _load(dag_file, survey_file)
    deposits = Asset(
        name=f"{config.archive.name}_{config.survey.lower()}_deposits",
        uri=f"{config.archive.name}://{config.survey}/{config.dag_id}",
        watchers=[
            AssetWatcher(
                name=f"{config.dag_id}_{config.archive.name}",
                trigger=DepositEventTrigger(
                    rules=config.rules(),
                    archive=config.archive.name,
                    archive_conn_id=config.archive.connection,
                    poll_interval=config.schedule.poke_interval.total_seconds(),
                    start=config.schedule.start_date.isoformat(),
                ),
            )
        ],
    )
    with DAG(dag_id=f"{config.dag_id}_events", schedule=[deposits], doc_md=__doc__, **_dag_args(config)) as dag:

        @task(task_id="record_deposits")
        def record_deposits() -> list[dict[str, Any]]:
            from beampipe_provider.ledger.records import DatasetRecord

            events = get_current_context()["triggering_asset_events"][deposits]
            # A watcher's event carries the trigger's payload under "payload" (Airflow's Trigger.submit_event)
            found = [DepositAnnouncement.from_payload(event.extra.get("payload", {})) for event in events]
            records = [DatasetRecord.model_validate(d) for announcement in found for d in announcement.datasets]
            if not records:
                log.warning("%d asset events without datasets (not the watcher's?)", len(events))
            store = LedgerHook(beampipe_ledger_conn_id=config.ledger_conn_id).get_store()
            store.record_datasets(records)
            return [r.model_dump(mode="json") for r in records]

        _process(config, base, record_deposits())
    return dag


def _process(config: SurveyConfig, base: Path, datasets: XComArg) -> None:
    """plan -> stage -> process -> report, from an XCom of dataset records."""

    @task(task_id="plan")
    def plan(datasets: list[dict[str, Any]]) -> list[str]:
        from beampipe_provider.surveys.planning import plan_batch

        ti = get_current_context()["ti"]
        store = LedgerHook(beampipe_ledger_conn_id=config.ledger_conn_id).get_store()
        batch = plan_batch(store, config, base, datasets, claimant=f"{ti.dag_id}/{ti.run_id}")
        _log_plan(batch)
        return batch.run_keys

    @task(task_id="report", trigger_rule=TriggerRule.ALL_DONE, retries=0)
    def report(run_keys: list[str] | None) -> list[Any]:
        if run_keys is None:
            raise AirflowException("the plan task did not finish, so this DAG run has no batch: see its log")
        ti = get_current_context()["ti"]
        return _report(config, run_keys, batch=f"{ti.dag_id}/{ti.run_id}")

    gave_up = give_up_callback(config.lifetime.on_task_failure, config.ledger_conn_id)

    @task_group(group_id="run")
    def one_run(run_key: str) -> None:
        """One run, on its own: its job is submitted as soon as its own data are staged, and a run whose staging
        fails leaves every other run of the batch going."""
        staged = StageOperator(
            task_id="stage",
            run_key=run_key,
            directory=config.staging.directory,
            archive=config.archive.name,
            archive_conn_id=config.archive.connection,
            rules=config.rules(),
            beampipe_ledger_conn_id=config.ledger_conn_id,
            staging_timeout=config.staging.timeout,
            max_active_tis_per_dag=config.staging.max_active,
            execution_timeout=config.staging.timeout + timedelta(minutes=30),
            on_failure_callback=gave_up,
            **_pool(config),
        )
        SlurmWorkflowOperator(
            task_id="process",
            run_key=run_key,
            datasets=staged.output,
            ssh_conn_id=config.facility.ssh_conn_id,
            engine=config.workflow.engine,
            workflow=str(resolve(base, config.workflow.path)),
            workflow_options=config.workflow.options,
            facility=_facility(config, base),
            parameters=config.workflow.parameters,
            sbatch_options=config.facility.sbatch,
            job_timeout_s=config.facility.job_timeout.total_seconds(),
            poll_interval=config.facility.poll_interval.total_seconds(),
            queue_group=config.survey,
            queue_share=config.facility.queue_share,
            provenance_key_conn_id=config.provenance.key_conn_id,
            beampipe_ledger_conn_id=config.ledger_conn_id,
            max_active_tis_per_dag=config.facility.max_active_runs,  # this survey's share of the facility
            execution_timeout=config.facility.process_timeout,
            on_failure_callback=gave_up,
            **_pool(config),
        )

    run_keys = plan(cast("list[dict[str, Any]]", datasets))  # an XCom at parse time, the list at run time
    one_run.expand(run_key=run_keys) >> report(cast("list[str]", run_keys))


def _pool(config: SurveyConfig) -> dict[str, Any]:
    return {"pool": config.facility.pool} if config.facility.pool else {}


def _facility(config: SurveyConfig, base: Path) -> str:
    profile = config.facility.profile
    return str(resolve(base, profile)) if profile.endswith((".yaml", ".yml")) else profile


def _log_plan(batch: Any) -> None:
    plan = batch.plan
    log.info(
        "Planned: %d new runs, %d already in the ledger; %d sources registered from the source file",
        len(plan.created),
        len(plan.existing),
        batch.registered,
    )
    for label, ids in (
        ("unregistered source", plan.unknown_source),
        ("disabled source", plan.disabled_source),
        ("no source in the file name", plan.no_source),
    ):
        if ids:
            log.warning("Not planned (%s): %s", label, ", ".join(ids))
    log.info("This batch: %d runs to stage and process", len(batch.run_keys))


def _report(config: SurveyConfig, run_keys: list[str], *, batch: str) -> list[Any]:
    from beampipe_provider.common.text_table import text_table
    from beampipe_provider.hooks.signing import get_signing_key
    from beampipe_provider.surveys.report import (
        SUMMARY_HEADER,
        as_json,
        needs_attention,
        overdue,
        summarise,
        unfinished,
    )

    store = LedgerHook(beampipe_ledger_conn_id=config.ledger_conn_id).get_store()
    key = get_signing_key(config.provenance.key_conn_id).public_key() if config.provenance.key_conn_id else None
    summaries = summarise(store, run_keys, key)
    table = text_table([s.row() for s in summaries], SUMMARY_HEADER)
    log.info("%s runs of this batch:\n%s\n(%d runs)", config.survey, table, len(summaries))
    late = overdue(store, config.survey, now=datetime.now(UTC), after=config.lifetime.escalate_after)
    # This task is the DAG run's only leaf, so its outcome is the run's: it fails when anything needs a person.
    if problems := needs_attention(summaries, late, unfinished(store, run_keys, batch=batch)):
        raise AirflowException(f"{len(problems)} {config.survey} runs need attention:\n  " + "\n  ".join(problems))
    return as_json(summaries)
