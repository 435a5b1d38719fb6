"""Adopt a run's job or submit one: the submission decision (`scheduler.submission.decide`) applied, step by step,
to the scheduler and the ledger. Core code: no Airflow.

The job id is saved (task state store first, then the ledger) before anything else can fail. A lost sbatch answer
makes the run UNCERTAIN, and the next decision looks the job up by name: it is adopted, or provably absent and
submitted; never submitted blind."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from beampipe_provider.ledger.store import Run
from beampipe_provider.runs.lifecycle import RunLifecycle
from beampipe_provider.scheduler.base import (
    JobStatus,
    RequestRefused,
    SubmissionUncertain,
    SubmittedJob,
    TransportError,
)
from beampipe_provider.scheduler.submission import (
    Adopt,
    AlreadySucceeded,
    Known,
    LookUp,
    Refuse,
    Requeue,
    SavedJob,
    Submit,
    decide,
)

log = logging.getLogger(__name__)

ALREADY_SUCCEEDED = "already succeeded (ledger)"
LOOKUP_RETRY_S = (5, 10, 20, 40, 60)  # a login node briefly unreachable while we look a job up


class SavedJobs(Protocol):
    """Where the task keeps its job id across retries (Airflow: the task state store)."""

    def load(self) -> SavedJob | None: ...

    def save(self, saved: SavedJob) -> None: ...


class RunRefused(RuntimeError):
    """The run cannot be submitted (its state, or a request the site can never grant): a permanent failure."""


@dataclass(frozen=True)
class JobRef:
    job_id: str
    cluster: str | None
    how: str  # submitted | adopted (...) | ALREADY_SUCCEEDED
    estimated_start: str | None = None  # sbatch --test-only's answer, ISO 8601 UTC

    @property
    def already_succeeded(self) -> bool:
        return self.how == ALREADY_SUCCEEDED


@dataclass
class JobPlace:
    """What the driver needs to find and make a job."""

    name: str
    find: Callable[[str], Sequence[JobStatus]]
    submit: Callable[[], SubmittedJob]  # admission, limits and sbatch; raises QueueFull to wait


def adopt_or_submit(
    place: JobPlace,
    *,
    lifecycle: RunLifecycle | None,
    saved_jobs: SavedJobs,
    claim_ttl: timedelta,
    sleep: Callable[[float], None] = time.sleep,
) -> JobRef:
    saved = saved_jobs.load()
    run = lifecycle.current() if lifecycle else None
    listed: Sequence[JobStatus] | None = None
    while True:
        decision = decide(Known(saved, run, listed))
        if isinstance(decision, AlreadySucceeded):
            return JobRef(decision.job_id, decision.cluster, ALREADY_SUCCEEDED)
        if isinstance(decision, Adopt):
            return _record(JobRef(decision.job_id, decision.cluster, decision.how), saved, run, lifecycle, saved_jobs)
        if isinstance(decision, Refuse):
            raise RunRefused(decision.reason)
        if isinstance(decision, LookUp):
            listed = _look_up(place, decision.settle_s, sleep)
            continue
        if isinstance(decision, Requeue):
            if lifecycle is None or run is None:  # decide() requeues only a ledger run
                raise RunRefused("a job to requeue without a ledger run")
            saved = replace(saved or SavedJob(), done=(saved.done if saved else frozenset()) | {decision.ended_job_id})
            saved_jobs.save(saved)
            run = lifecycle.requeue(run, claim_ttl=claim_ttl)
            listed = None
            continue
        assert isinstance(decision, Submit)
        if decision.reconciled and lifecycle is not None and run is not None:
            run = lifecycle.reconciled_absent(run)
        try:
            submitted = place.submit()
        except SubmissionUncertain as exc:
            log.warning("%s; resolving by job name", exc)
            if lifecycle is None or run is None:
                raise
            run = lifecycle.uncertain(run, str(exc))
            listed = None
            continue
        except RequestRefused as exc:
            if lifecycle is not None and run is not None:
                lifecycle.refused(run, str(exc))
            raise
        estimate = submitted.estimated_start.isoformat() if submitted.estimated_start else None
        job = JobRef(submitted.job_id, submitted.cluster, "submitted", estimate)
        return _record(job, saved, run, lifecycle, saved_jobs)


def _look_up(place: JobPlace, settle_s: float, sleep: Callable[[float], None]) -> Sequence[JobStatus]:
    if settle_s:
        sleep(settle_s)
    for wait in LOOKUP_RETRY_S:
        try:
            return place.find(place.name)
        except TransportError as exc:
            log.warning("Slurm unreachable while looking for job %s, trying again in %d s: %s", place.name, wait, exc)
            sleep(wait)
    return place.find(place.name)  # the last try: its error is the task's


def _record(
    job: JobRef, saved: SavedJob | None, run: Run | None, lifecycle: RunLifecycle | None, saved_jobs: SavedJobs
) -> JobRef:
    """Save the job id before anything else can fail: task state first, then the ledger."""
    saved_jobs.save(SavedJob(job.job_id, job.cluster, saved.done if saved else frozenset()))
    if lifecycle is not None and run is not None:
        detail: Mapping[str, Any] = {"how": job.how, "cluster": job.cluster, "estimated_start": job.estimated_start}
        lifecycle.submitted(run, job.job_id, job.cluster, detail)
    return job
