"""A survey's planning against the ledger, with no Airflow: the DAG's tasks are thin calls to these.
The report on what became of the runs is `report.py`.

The ledger is the queue: every run of the survey that is DISCOVERED is work, whichever DAG run (a poll, a backfill,
a retry) discovered it, so a deposit left over from a busy interval is taken by the next one and none runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from beampipe_provider.ledger.record_files import load_source_list
from beampipe_provider.ledger.store import LedgerStore, PlanResult
from beampipe_provider.surveys.config import SurveyConfig


@dataclass(frozen=True)
class Batch:
    plan: PlanResult
    run_keys: list[str]  # the runs this DAG run took on: claimed for it, oldest first, at most batch.size
    registered: int  # sources newly registered from the survey's source file


def by_deposit(datasets: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """Dataset ids grouped by scheduling block. A run is one source in one deposit, whichever DAG saw it: a daily
    poll, a backfill and the event DAG (which may see three deposits at once) then plan the same runs."""
    groups: dict[Any, list[str]] = {}
    for dataset in datasets:
        groups.setdefault(dataset.get("sbid"), []).append(str(dataset["dataset_id"]))
    return list(groups.values())


def plan_batch(
    store: LedgerStore, config: SurveyConfig, base: Path, datasets: Iterable[Mapping[str, Any]], *, claimant: str
) -> Batch:
    """Register the survey's source file (if any), plan one run per registered, enabled source and deposit, and
    claim the batch of runs to process now for `claimant` (the DAG run): overlapping DAG runs (a backfill and a
    poll) each get their own runs, and runs whose claim expired (a DAG run that died) are taken again."""
    registered = 0
    if config.sources.file:
        registered = len(store.register_sources(config.survey, load_source_list(base / config.sources.file)).created)
    plans = [
        store.plan_runs(
            config.survey,
            ids,
            workflow=config.workflow.name,
            workflow_version=config.workflow.version,
            parameters=config.workflow.parameters,
            archive=config.archive.name,
            scheduler="slurm",
            facility=config.facility.profile,
            actor=claimant,
        )
        for ids in by_deposit(datasets)
    ]
    plan = PlanResult(
        **{name: sorted(x for p in plans for x in getattr(p, name)) for name in PlanResult.__dataclass_fields__}
    )
    ttl = config.staging.timeout + timedelta(hours=1)  # as long as the stage task may hold it
    held = store.runs_held_by(claimant, survey=config.survey)  # a retried plan task keeps what it took
    room = max(config.batch.size - len(held), 0)
    claimed = store.claim_runs(claimant, ttl=ttl, limit=room, survey=config.survey) if room else []
    return Batch(plan=plan, run_keys=[r.run_key for r in [*held, *claimed]], registered=registered)
