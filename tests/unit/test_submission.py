"""The submission decision as a table: every branch of `decide`, and the job's end -> the run's next state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from beampipe_provider.ledger.runs import Run
from beampipe_provider.ledger.states import RunState
from beampipe_provider.scheduler.base import JobStatus, Phase
from beampipe_provider.scheduler.submission import (
    RECONCILE_SETTLE_S,
    Adopt,
    AlreadySucceeded,
    Known,
    LookUp,
    Refuse,
    Requeue,
    SavedJob,
    Submit,
    decide,
    final_state,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
S = RunState


def run(state: RunState, job: str | None = None, cluster: str | None = None) -> Run:
    return Run(
        run_key="k" * 64,
        survey="WALLABY",
        source_id="HIPASSJ1303+07",
        workflow="w",
        workflow_version="1",
        parameters={},
        state=state,
        attempt=1,
        scheduler="slurm",
        facility="setonix",
        scheduler_job_id=job,
        claimed_by=None,
        claim_expires_at=None,
        created_at=NOW,
        updated_at=NOW,
        submitted_at=None,
        started_at=None,
        finished_at=None,
        last_error=None,
        cluster=cluster,
    )


def job(job_id: str, phase: Phase, cluster: str | None = None) -> JobStatus:
    return JobStatus(job_id=job_id, phase=phase, state=phase.value, cluster=cluster)


SAVED = SavedJob()  # a task state store with nothing in it yet
LIVE, OK, BAD = Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED

CASES = [
    # (what is known, the decision)
    (
        "the task saved a job: adopt it",
        Known(SavedJob("7", "setonix"), run(S.STAGED)),
        Adopt("7", "setonix", "adopted (task state)"),
    ),
    (
        "a saved job already handled is not adopted again",
        Known(SavedJob("7", None, frozenset({"7"})), run(S.STAGED)),
        LookUp(),
    ),
    ("the ledger has it succeeded", Known(SAVED, run(S.SUCCEEDED, "5", "setonix")), AlreadySucceeded("5", "setonix")),
    (
        "the ledger has a live job: adopt, on its cluster",
        Known(None, run(S.RUNNING, "5", "setonix")),
        Adopt("5", "setonix", "adopted (ledger)"),
    ),
    ("submitted in the ledger", Known(SAVED, run(S.SUBMITTED, "5")), Adopt("5", None, "adopted (ledger)")),
    ("uncertain: look first, after a settle", Known(SAVED, run(S.UNCERTAIN)), LookUp(settle_s=RECONCILE_SETTLE_S)),
    (
        "uncertain and found: adopt, even ended",
        Known(SAVED, run(S.UNCERTAIN), [job("9", BAD)]),
        Adopt("9", None, "adopted (was uncertain)"),
    ),
    (
        "uncertain, a live one wins over an ended one",
        Known(SAVED, run(S.UNCERTAIN), [job("8", BAD), job("9", LIVE), job("10", BAD)]),
        Adopt("9", None, "adopted (was uncertain)"),
    ),
    ("uncertain and provably absent: submit", Known(SAVED, run(S.UNCERTAIN), []), Submit(reconciled=True)),
    (
        "uncertain, only handled jobs listed: submit",
        Known(SavedJob(done=frozenset({"9"})), run(S.UNCERTAIN), [job("9", OK)]),
        Submit(reconciled=True),
    ),
    ("a failed run with a job is requeued", Known(SAVED, run(S.FAILED, "5")), Requeue("5")),
    ("a cancelled run with a job is requeued", Known(SAVED, run(S.CANCELLED, "5")), Requeue("5")),
    (
        "failed before any job: refused",
        Known(SAVED, run(S.FAILED)),
        Refuse(f"run {'k' * 64} is FAILED: it cannot be submitted"),
    ),
    (
        "not claimed yet: refused",
        Known(SAVED, run(S.DISCOVERED)),
        Refuse(f"run {'k' * 64} is DISCOVERED: it cannot be submitted"),
    ),
    ("staged: look the name up first", Known(SAVED, run(S.STAGED)), LookUp()),
    ("claimed: look the name up first", Known(SAVED, run(S.CLAIMED)), LookUp()),
    ("no job with the name: submit", Known(SAVED, run(S.STAGED), []), Submit()),
    (
        "a live job by name: adopt",
        Known(SAVED, run(S.STAGED), [job("3", OK), job("4", LIVE)]),
        Adopt("4", None, "adopted (found by name)"),
    ),
    (
        "a succeeded job by name: adopt",
        Known(None, run(S.STAGED), [job("4", OK, "c")]),
        Adopt("4", "c", "adopted (found by name)"),
    ),
    (
        "an ended failure, with a state store: the crash's job",
        Known(SAVED, run(S.STAGED), [job("4", BAD)]),
        Adopt("4", None, "adopted (found by name)"),
    ),
    ("an ended failure, no state store: a new job", Known(None, run(S.STAGED), [job("4", BAD)]), Submit()),
    ("handled jobs are never adopted", Known(SavedJob(done=frozenset({"4"})), run(S.STAGED), [job("4", OK)]), Submit()),
    ("no ledger run: look up, then adopt or submit", Known(SAVED, None), LookUp()),
    ("no ledger run, nothing found", Known(SAVED, None, []), Submit()),
    ("no ledger run, a live job", Known(None, None, [job("2", LIVE)]), Adopt("2", None, "adopted (found by name)")),
]


@pytest.mark.parametrize(("known", "decision"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(known: Known, decision: object) -> None:
    assert decide(known) == decision


def test_a_requeued_run_is_decided_again_as_claimed_and_its_ended_job_stays_handled() -> None:
    known = Known(SAVED, run(S.FAILED, "5"))
    assert decide(known) == Requeue("5")
    after = Known(replace(SAVED, done=frozenset({"5"})), run(S.CLAIMED), [job("5", BAD)])
    assert decide(after) == Submit()


@pytest.mark.parametrize(
    ("event", "phase", "state"),
    [
        ("success", Phase.SUCCEEDED, S.SUCCEEDED),
        ("failed", Phase.FAILED, S.FAILED),
        ("failed", Phase.CANCELLED, S.CANCELLED),
        ("timeout", Phase.RUNNING, S.CANCELLED),
        ("error", Phase.UNKNOWN, S.FAILED),
    ],
)
def test_the_end_of_a_job_maps_to_the_runs_next_state(event: str, phase: Phase, state: RunState) -> None:
    assert final_state(event, phase) is state
