"""A task that gave up on a run, recorded on the run: what failed, of which class, and what becomes of the run.
Core code: the survey DAG's failure callback calls this with the task's final exception.

A run nothing outside the ledger depends on yet (CLAIMED, STAGED) is given back to the queue (policy `requeue`: the
next DAG run takes it again) or failed (policy `fail`); either way the run says why. A run that may have a job
(SUBMITTED and later) is never requeued blind: the next attempt adopts its job by name."""

from __future__ import annotations

from enum import StrEnum

from beampipe_provider.archive.errors import ArchiveUnavailable, StagingTimeout
from beampipe_provider.ledger.errors import StaleState
from beampipe_provider.ledger.states import RECLAIMABLE, RunState
from beampipe_provider.ledger.store import LedgerStore, Run
from beampipe_provider.scheduler.base import TransportError

TRANSIENT: tuple[type[BaseException], ...] = (TransportError, ArchiveUnavailable, StagingTimeout, TimeoutError)


class OnGiveUp(StrEnum):
    REQUEUE = "requeue"  # back to DISCOVERED, the claim released: the next DAG run takes it again
    FAIL = "fail"  # FAILED: an operator requeues it once the cause is fixed


def failure_class(error: BaseException) -> str:
    """`transient` (the archive or the facility was unreachable or slow: trying later may work) or `permanent`."""
    return "transient" if isinstance(error, TRANSIENT) else "permanent"


def record_give_up(store: LedgerStore, run_key: str, *, task: str, error: BaseException, policy: OnGiveUp) -> Run:
    """Write on the run that `task` gave up on it, and apply `policy` to a run without a job. Returns the run as
    it now stands (unchanged when it has a job, or when another task moved it meanwhile)."""
    run = store.get_run(run_key)
    if run.state not in RECLAIMABLE:
        return run
    klass = failure_class(error)
    message = f"{task} gave up ({klass}): {type(error).__name__}: {error}"[:4000]
    to = RunState.DISCOVERED if policy is OnGiveUp.REQUEUE else RunState.FAILED
    detail = {"gave_up": task, "class": klass, "policy": policy.value}
    try:
        return store.transition(run_key, expected=run.state, to=to, actor=task, error=message, detail=detail)
    except StaleState:
        return store.get_run(run_key)
