"""Runs as the API and the pages show them: ledger rows plus dataset count, provenance and the Airflow task."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from beampipe_provider.ledger.store import LedgerStore, Run, RunEvent
from beampipe_provider.plugins.models import EventOut, Provenance, RunDetail, RunOut, TaskLink
from beampipe_provider.runs.actor import TaskActor


def task_link(actor: str, airflow_base: str) -> TaskLink | None:
    """The task instance page in the Airflow 3 UI (routes `dags/:dagId/runs/:runId/tasks/:taskId[/mapped/:i]`)."""
    task = TaskActor.parse(actor)
    if task is None:
        return None
    dag_id, run_id, task_id, map_index = task.dag_id, task.run_id, task.task_id, task.map_index
    url = f"{airflow_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    if map_index >= 0:
        url += f"/mapped/{map_index}"
    return TaskLink(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, url=url)


def latest_task(events: Sequence[RunEvent], airflow_base: str) -> TaskLink | None:
    for event in reversed(events):
        if link := task_link(event.actor, airflow_base):
            return link
    return None


def provenance_of(store: LedgerStore, run_key: str) -> Provenance | None:
    envelope = store.provenance_envelope(run_key)
    if envelope is None:
        return None
    return Provenance(
        record_sha256=envelope["record_sha256"], key_id=envelope["key_id"], algorithm=envelope["algorithm"]
    )


def summary(store: LedgerStore, run: Run, airflow_base: str, events: Sequence[RunEvent] | None = None) -> RunOut:
    events = store.run_history(run.run_key) if events is None else events
    return RunOut(
        **run.__dict__,
        duration_s=run.duration_s,
        dataset_count=len(store.run_datasets(run.run_key)),
        provenance=provenance_of(store, run.run_key),
        task=latest_task(events, airflow_base),
    )


def detail(store: LedgerStore, run_key: str, airflow_base: str) -> RunDetail:
    """One run by key or unique prefix (8+ characters); raises UnknownRun, or ValueError for a bad prefix."""
    run = store.get_run(store.resolve_run_key(run_key))
    events = store.run_history(run.run_key)
    return RunDetail(
        **summary(store, run, airflow_base, events).model_dump(),
        datasets=store.run_datasets(run.run_key),
        events=[
            EventOut(
                from_state=e.from_state,
                to_state=e.to_state,
                at=e.at,
                actor=e.actor,
                detail=e.detail,
                task=task_link(e.actor, airflow_base),
            )
            for e in events
        ],
    )
