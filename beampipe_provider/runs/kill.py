"""What a kill does to a run's job: Slurm is asked first, so a kill never records a finished job as cancelled.
Core code: the operator's on_kill calls this with its one scheduler session."""

from __future__ import annotations

import logging

from beampipe_provider.runs.lifecycle import RunLifecycle
from beampipe_provider.scheduler.base import Phase, Scheduler
from beampipe_provider.scheduler.submission import final_state

log = logging.getLogger(__name__)


def stop_job(scheduler: Scheduler, job_id: str, lifecycle: RunLifecycle | None) -> None:
    """A live job is cancelled and the run records who was killed; a job that already ended keeps its real
    outcome, recorded now; a job Slurm does not know is left for the retry to find by name."""
    status = scheduler.status([job_id])[job_id]
    if status.phase is Phase.UNKNOWN:
        return
    if not status.phase.terminal:
        scheduler.cancel([job_id])
        log.info("Cancelled Slurm job %s: task killed", job_id)
        if lifecycle is not None:
            lifecycle.cancelled(lifecycle.current(), f"{lifecycle.actor} was killed; Slurm job {job_id} cancelled")
        return
    log.info("Slurm job %s had already ended (%s): recording its outcome", job_id, status.describe())
    if lifecycle is not None:
        end = "success" if status.phase is Phase.SUCCEEDED else "failed"
        error = None if end == "success" else f"failed: {status.describe()}"
        lifecycle.ended(lifecycle.current(), status, final_state(end, status.phase), error)
