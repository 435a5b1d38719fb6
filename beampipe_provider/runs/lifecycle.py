"""RunLifecycle: a task's writes to one ledger run. Core code: no Airflow.

Every write is compare-and-set on the state the caller's decision was made from (the `Run` it holds and passes
in), never on a state read again just before writing: if another task moved the run in between, the write fails
with StaleState and changes nothing, instead of silently overwriting what the other task recorded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from beampipe_provider.ledger.errors import StaleState
from beampipe_provider.ledger.states import RECLAIMABLE, RunState
from beampipe_provider.ledger.store import LedgerStore, Run
from beampipe_provider.scheduler.base import JobStatus


class RunLifecycle:
    def __init__(self, store: LedgerStore, run_key: str, actor: str, *, scheduler: str = "slurm") -> None:
        self.store = store
        self.run_key = run_key
        self.actor = actor
        self.scheduler = scheduler

    def current(self) -> Run:
        return self.store.get_run(self.run_key)

    def _move(self, run: Run, to: RunState, **values: Any) -> Run:
        return self.store.transition(
            run.run_key, expected=run.state, to=to, actor=self.actor, scheduler=self.scheduler, **values
        )

    def submitted(self, run: Run, job_id: str, cluster: str | None, detail: Mapping[str, Any]) -> Run:
        """The run has a job (submitted or adopted). A run already SUBMITTED or later is left as it is."""
        if run.state not in (RunState.CLAIMED, RunState.STAGED, RunState.UNCERTAIN):
            return run
        return self._move(run, RunState.SUBMITTED, scheduler_job_id=job_id, cluster=cluster, detail=detail)

    def uncertain(self, run: Run, error: str) -> Run:
        return self._move(run, RunState.UNCERTAIN, error=error)

    def reconciled_absent(self, run: Run) -> Run:
        """An uncertain submission made no job: the run is STAGED again and may be submitted."""
        return self._move(run, RunState.STAGED, detail={"reconciled": "no job with this name"})

    def requeue(self, run: Run, *, claim_ttl: timedelta) -> Run:
        """A retry after the run's job ended badly: back to the queue, and claimed by this task at once."""
        self._move(run, RunState.DISCOVERED, detail={"retry": True})
        claimed = self.store.claim_runs(self.actor, ttl=claim_ttl, run_keys=[run.run_key])
        if not claimed:  # another claimant took it in between: it is theirs now
            raise StaleState(run.run_key, RunState.DISCOVERED, self.current().state)
        return claimed[0]

    def refused(self, run: Run, message: str) -> Run:
        """The site can never run this request: FAILED, so a fixed configuration can requeue it."""
        return self._move(run, RunState.FAILED, error=message)

    def ended(self, run: Run, status: JobStatus, to: RunState, error: str | None) -> Run:
        """The job ended: RUNNING first if it was never seen running (with its real start), then `to`. A run
        already terminal (recorded by an earlier attempt) is left as it is."""
        if run.state not in (RunState.SUBMITTED, RunState.RUNNING):
            return run
        if run.state is RunState.SUBMITTED and status.started is not None:
            started = status.started.isoformat()
            run = self._move(run, RunState.RUNNING, detail={"started": started}, entered_at=status.started)
        ended = status.ended.isoformat() if status.ended else None
        detail = {"state": status.state, "exit_code": status.exit_code, "ended": ended}
        return self._move(run, to, error=error, detail=detail)

    def cancelled(self, run: Run, why: str) -> Run:
        if run.state not in (RunState.SUBMITTED, RunState.RUNNING):
            return run
        return self._move(run, RunState.CANCELLED, error=why)

    def keep_claim(self, run: Run, ttl: timedelta) -> bool:
        """Renew this run's claim while it waits (for room in the queue): otherwise, once the claim expired, a later
        DAG run could claim and stage the same run. False when the claim was already lost."""
        if run.claimed_by is None or run.state not in RECLAIMABLE:
            return True
        try:
            self.store.renew_claim(run.run_key, run.claimed_by, ttl=ttl)
        except StaleState:
            return False
        return True
