"""The submission decision: from what is known about a run's job, what to do next. Pure: no I/O, no clock.

Known facts come from three places, trusted in this order: the task's own state store (the job id saved right
after sbatch: it survives retries), the ledger's run (its state and job), and the jobs the scheduler lists under the
run's job name. `decide` is asked again after each step it asks for (look the name up, requeue the run), until it
answers with a job to adopt, a submission, or a refusal. The same module maps a job's end to the run's next state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from beampipe_provider.ledger.runs import Run
from beampipe_provider.ledger.states import RunState
from beampipe_provider.scheduler.base import JobStatus, Phase

# After a lost sbatch answer, slurmctld (and slurmdbd) need a moment before a lookup by name can be trusted to
# show the job; one empty lookup after this settles the question.
RECONCILE_SETTLE_S = 5.0


@dataclass(frozen=True)
class SavedJob:
    """What the task state store keeps across retries."""

    job_id: str | None = None
    cluster: str | None = None
    done: frozenset[str] = field(default_factory=frozenset)  # jobs whose end this task already handled


@dataclass(frozen=True)
class Known:
    saved: SavedJob | None  # None: the task has no state store, so nothing proves an ended job was handled
    run: Run | None  # None: a task without a ledger run
    listed: Sequence[JobStatus] | None = None  # jobs the scheduler lists under the job name; None: not asked yet

    @property
    def done(self) -> frozenset[str]:
        return self.saved.done if self.saved else frozenset()


@dataclass(frozen=True)
class AlreadySucceeded:
    job_id: str
    cluster: str | None


@dataclass(frozen=True)
class Adopt:
    job_id: str
    cluster: str | None
    how: str  # for the log and the SUBMITTED event: "adopted (task state)", "adopted (found by name)", ...


@dataclass(frozen=True)
class LookUp:
    """List the jobs with this job's name (after `settle_s`), then decide again."""

    settle_s: float = 0.0


@dataclass(frozen=True)
class Requeue:
    """The run's job ended badly and this is a retry: the run goes back to the queue, claimed by this task, the
    ended job is marked handled, then decide again."""

    ended_job_id: str


@dataclass(frozen=True)
class Submit:
    reconciled: bool = False  # True: an uncertain submission was proved absent (UNCERTAIN -> STAGED first)


@dataclass(frozen=True)
class Refuse:
    reason: str


Decision = AlreadySucceeded | Adopt | LookUp | Requeue | Submit | Refuse

_LIVE_RUN = (RunState.SUBMITTED, RunState.RUNNING)
_SUBMITTABLE = (RunState.CLAIMED, RunState.STAGED)


def decide(known: Known) -> Decision:
    saved, run = known.saved, known.run
    if saved and saved.job_id and saved.job_id not in known.done:
        return Adopt(saved.job_id, saved.cluster, "adopted (task state)")
    if run is not None:
        if run.scheduler_job_id and run.state is RunState.SUCCEEDED:
            return AlreadySucceeded(run.scheduler_job_id, run.cluster)
        if run.scheduler_job_id and run.state in _LIVE_RUN:
            return Adopt(run.scheduler_job_id, run.cluster, "adopted (ledger)")
        if run.state is RunState.UNCERTAIN:
            return _reconcile(known)
        if run.state in (RunState.FAILED, RunState.CANCELLED) and run.scheduler_job_id:
            return Requeue(run.scheduler_job_id)
        if run.state not in _SUBMITTABLE:
            return Refuse(f"run {run.run_key} is {run.state}: it cannot be submitted")
    if known.listed is None:
        return LookUp()
    found = adoptable(known.listed, known.done, trust_failed=saved is not None)
    if found is not None:
        return Adopt(found.job_id, found.cluster, "adopted (found by name)")
    return Submit()


def _reconcile(known: Known) -> Decision:
    """UNCERTAIN: the job may exist. Found -> adopt it, whatever its state; provably absent -> submit."""
    if known.listed is None:
        return LookUp(settle_s=RECONCILE_SETTLE_S)
    jobs = [j for j in known.listed if j.job_id not in known.done]
    if jobs:
        job = _live(jobs) or jobs[-1]
        return Adopt(job.job_id, job.cluster, "adopted (was uncertain)")
    return Submit(reconciled=True)


def _live(jobs: Sequence[JobStatus]) -> JobStatus | None:
    live = [j for j in jobs if not j.phase.terminal]
    return live[-1] if live else None


def adoptable(listed: Sequence[JobStatus], done: frozenset[str], *, trust_failed: bool) -> JobStatus | None:
    """The job to adopt among those with this task's name: a live one first, then the latest ended one if it
    succeeded. An ended failure is adopted only when the task state store would have listed it as handled
    (`trust_failed`): then it is the job a crash left behind, not one a retry must replace."""
    jobs = [j for j in listed if j.job_id not in done]
    if live := _live(jobs):
        return live
    if jobs and (jobs[-1].phase is Phase.SUCCEEDED or trust_failed):
        return jobs[-1]
    return None


def final_state(event_status: str, phase: Phase) -> RunState:
    """The run's state once its job has ended: success, else CANCELLED (cancelled, or stopped at the task's
    deadline), else FAILED."""
    if event_status == "success":
        return RunState.SUCCEEDED
    if phase is Phase.CANCELLED or event_status == "timeout":
        return RunState.CANCELLED
    return RunState.FAILED
