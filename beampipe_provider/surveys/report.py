"""A survey's report against the ledger, with no Airflow: each run's state, job, duration and provenance status,
and what needs a person (runs that gave up, records that do not verify, runs overdue).

Provenance is checked one survey at a time: the survey's chain is read and walked once for the whole report, so the
report's cost grows with the number of runs, not with its square.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from beampipe_provider.ledger.provenance import ProvenanceRoom
from beampipe_provider.ledger.states import TERMINAL, RunState
from beampipe_provider.ledger.store import LedgerStore, Run
from beampipe_provider.provenance.signing import check_signature
from beampipe_provider.provenance.verify import chain_breaks


class ProvenanceState(StrEnum):
    """Where a run's signed record stands. The values are what the report prints."""

    NOT_FINISHED = "-"  # the run has not succeeded: no record is due
    MISSING = "missing"  # succeeded, but no record in the ledger
    UNVERIFIED = "recorded (no key to verify)"  # recorded; the report was given no public key
    VERIFIED = "verified"  # signature and chain up to this record intact
    INVALID = "invalid"  # see the problems


@dataclass(frozen=True)
class ProvenanceStatus:
    state: ProvenanceState
    problems: tuple[str, ...] = ()  # why it is INVALID, one line each

    def __str__(self) -> str:
        if self.state is ProvenanceState.INVALID:
            return f"{self.state}: " + "; ".join(self.problems)
        return str(self.state)


_NOT_FINISHED = ProvenanceStatus(ProvenanceState.NOT_FINISHED)
_MISSING = ProvenanceStatus(ProvenanceState.MISSING)
_UNVERIFIED = ProvenanceStatus(ProvenanceState.UNVERIFIED)
_VERIFIED = ProvenanceStatus(ProvenanceState.VERIFIED)


def survey_provenance(room: ProvenanceRoom, survey: str, key: Ed25519PublicKey | None) -> dict[str, ProvenanceStatus]:
    """The status of every record of `survey`, by run key, from one read and one walk of its chain.

    A record is invalid when its own signature fails or when the chain up to it is broken anywhere: each record
    names the one before, so a removed or altered record casts doubt on every record after it."""
    records = room.provenance_records(survey)
    if key is None:
        return {run_key: _UNVERIFIED for run_key, _ in records}
    statuses: dict[str, ProvenanceStatus] = {}
    breaks: list[str] = []
    for (run_key, envelope), chain_break in zip(records, chain_breaks([e for _, e in records]), strict=True):
        if chain_break:
            breaks.append(chain_break)
        problems = check_signature(envelope, key) + breaks
        statuses[run_key] = ProvenanceStatus(ProvenanceState.INVALID, tuple(problems)) if problems else _VERIFIED
    return statuses


def provenance_status(run: Run, recorded: Mapping[str, ProvenanceStatus]) -> ProvenanceStatus:
    """The run's status among its survey's records (`survey_provenance`)."""
    if run.state is not RunState.SUCCEEDED:
        return _NOT_FINISHED
    return recorded.get(run.run_key, _MISSING)


@dataclass(frozen=True)
class RunSummary:
    run_key: str
    source_id: str
    datasets: int
    state: RunState
    job_id: str | None
    duration_s: float | None
    provenance: ProvenanceStatus

    def row(self) -> tuple[Any, ...]:
        duration = f"{self.duration_s:.0f} s" if self.duration_s is not None else None
        return (self.source_id, self.datasets, self.state.value, self.job_id, duration, str(self.provenance))


SUMMARY_HEADER = ("SOURCE", "DATASETS", "STATE", "JOB", "DURATION", "PROVENANCE")


def summarise(store: LedgerStore, run_keys: Sequence[str], key: Ed25519PublicKey | None) -> list[RunSummary]:
    """One summary per run, in the order given; each survey's provenance chain is verified once."""
    runs = [store.get_run(run_key) for run_key in run_keys]
    chains: dict[str, dict[str, ProvenanceStatus]] = {}
    summaries = []
    for run in runs:
        if run.state is RunState.SUCCEEDED and run.survey not in chains:
            chains[run.survey] = survey_provenance(store, run.survey, key)
        summaries.append(
            RunSummary(
                run_key=run.run_key,
                source_id=run.source_id,
                datasets=len(store.run_datasets(run.run_key)),
                state=run.state,
                job_id=run.scheduler_job_id,
                duration_s=run.duration_s,
                provenance=provenance_status(run, chains.get(run.survey, {})),
            )
        )
    return summaries


def overdue(store: LedgerStore, survey: str, *, now: datetime, after: timedelta) -> list[Run]:
    """Runs of the survey still unfinished `after` they were planned: an operator should look at them."""
    return [r for r in store.iter_runs(survey) if r.state not in TERMINAL and now - r.created_at > after]


_GAVE_UP = frozenset({RunState.FAILED, RunState.CANCELLED})


def unfinished(store: LedgerStore, run_keys: Sequence[str], *, batch: str) -> list[Run]:
    """Runs of the batch that are not in a terminal state when the DAG run ends: given back to the queue, stuck
    before submission, or with a job still going. A run another DAG run holds is theirs to report."""
    runs = [store.get_run(run_key) for run_key in run_keys]
    return [
        r
        for r in runs
        if r.state not in TERMINAL and not (r.claimed_by and not r.claimed_by.startswith(batch) and r.state in _HELD)
    ]


_HELD = frozenset({RunState.CLAIMED, RunState.STAGED})


def needs_attention(summaries: Sequence[RunSummary], late: Iterable[Run], left: Iterable[Run] = ()) -> list[str]:
    """Failed or cancelled runs, records that do not verify, runs the DAG run left unfinished, and runs overdue:
    one line each, with the reason the ledger has."""
    problems = [f"{s.run_key[:12]} ({s.source_id}): {s.state}" for s in summaries if s.state in _GAVE_UP]
    problems += [
        f"{s.run_key[:12]} ({s.source_id}): provenance {s.provenance}"
        for s in summaries
        if s.provenance.state is ProvenanceState.INVALID
    ]
    problems += [
        f"{r.run_key[:12]} ({r.source_id}): unfinished, {r.state}: {r.last_error or 'no error recorded'}" for r in left
    ]
    reported = {r.run_key for r in left}
    problems += [
        f"{r.run_key[:12]} ({r.source_id}): still {r.state}, planned {r.created_at:%Y-%m-%d}"
        for r in late
        if r.run_key not in reported
    ]
    return problems


def as_json(summaries: Sequence[RunSummary]) -> list[Mapping[str, Any]]:
    return [
        {
            "run_key": s.run_key,
            "source_id": s.source_id,
            "datasets": s.datasets,
            "state": s.state.value,
            "job_id": s.job_id,
            "duration_s": s.duration_s,
            "provenance": str(s.provenance),
        }
        for s in summaries
    ]
