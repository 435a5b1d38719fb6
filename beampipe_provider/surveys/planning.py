"""A survey's planning and reporting against the ledger, with no Airflow: the DAG's tasks are thin calls to these.

The ledger is the queue: every run of the survey that is DISCOVERED is work, whichever DAG run (a poll, a backfill,
a retry) discovered it, so a deposit left over from a busy interval is taken by the next one and none runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from beampipe_provider.ledger.record_files import load_source_list
from beampipe_provider.ledger.states import TERMINAL, RunState
from beampipe_provider.ledger.store import LedgerStore, PlanResult, Run
from beampipe_provider.provenance.chain import ProvenanceLedger
from beampipe_provider.provenance.signing import check_signature
from beampipe_provider.provenance.verify import check_chain
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


@dataclass(frozen=True)
class RunSummary:
    run_key: str
    source_id: str
    datasets: int
    state: RunState
    job_id: str | None
    duration_s: float | None
    provenance: str  # verified | missing | "invalid: ..." | "-" (not finished)

    def row(self) -> tuple[Any, ...]:
        duration = f"{self.duration_s:.0f} s" if self.duration_s is not None else None
        return (self.source_id, self.datasets, self.state.value, self.job_id, duration, self.provenance)


SUMMARY_HEADER = ("SOURCE", "DATASETS", "STATE", "JOB", "DURATION", "PROVENANCE")


def provenance_status(store: LedgerStore, run: Run, key: Ed25519PublicKey | None) -> str:
    """Signature and chain of the run's record, checked with the survey's public key."""
    if run.state is not RunState.SUCCEEDED:
        return "-"
    ledger = ProvenanceLedger(store.engine)
    envelope = ledger.get(run.run_key)
    if envelope is None:
        return "missing"
    if key is None:
        return "recorded (no key to verify)"
    problems = check_signature(envelope, key) + check_chain(ledger.chain(run.survey, until_run_key=run.run_key))
    return "verified" if not problems else "invalid: " + "; ".join(problems)


def summarise(store: LedgerStore, run_keys: Sequence[str], key: Ed25519PublicKey | None) -> list[RunSummary]:
    summaries = []
    for run_key in run_keys:
        run = store.get_run(run_key)
        summaries.append(
            RunSummary(
                run_key=run.run_key,
                source_id=run.source_id,
                datasets=len(store.run_datasets(run.run_key)),
                state=run.state,
                job_id=run.scheduler_job_id,
                duration_s=run.duration_s,
                provenance=provenance_status(store, run, key),
            )
        )
    return summaries


def overdue(store: LedgerStore, survey: str, *, now: datetime, after: timedelta) -> list[Run]:
    """Runs of the survey still unfinished `after` they were planned: an operator should look at them."""
    late = []
    page_after: int | None = None
    while True:
        page = store.list_runs(survey, after=page_after, limit=1000)
        late += [r for r in page.items if r.state not in TERMINAL and now - r.created_at > after]
        if page.next_after is None:
            return late
        page_after = page.next_after


def needs_attention(summaries: Sequence[RunSummary], late: Sequence[Run]) -> list[str]:
    """Failed or cancelled runs, records that do not verify, and runs overdue: one line each."""
    problems = [f"{s.run_key[:12]} ({s.source_id}): {s.state}" for s in summaries if s.state in _GAVE_UP]
    problems += [
        f"{s.run_key[:12]} ({s.source_id}): provenance {s.provenance}"
        for s in summaries
        if s.provenance.startswith("invalid")
    ]
    problems += [f"{r.run_key[:12]} ({r.source_id}): still {r.state}, planned {r.created_at:%Y-%m-%d}" for r in late]
    return problems


_GAVE_UP = frozenset({RunState.FAILED, RunState.CANCELLED})


def as_json(summaries: Sequence[RunSummary]) -> list[Mapping[str, Any]]:
    return [
        {
            "run_key": s.run_key,
            "source_id": s.source_id,
            "datasets": s.datasets,
            "state": s.state.value,
            "job_id": s.job_id,
            "duration_s": s.duration_s,
            "provenance": s.provenance,
        }
        for s in summaries
    ]
