"""A task as the ledger and Slurm see it: who it is (its actor), what it keeps across retries (Airflow 3.3's
`task_state_store`), and its deadline."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import Context

from beampipe_provider.runs.actor import TaskActor
from beampipe_provider.scheduler.submission import SavedJob

STATE_KEY = "slurm_job"  # task_state_store entry: {"job_id", "cluster", "done": [ids of jobs already handled]}


def task_actor(context: Context) -> TaskActor:
    ti = context["ti"]
    return TaskActor(ti.dag_id, ti.run_id, ti.task_id, -1 if ti.map_index is None else ti.map_index)


def task_deadline(context: Context, execution_timeout: timedelta | None) -> float | None:
    """execution_timeout as an absolute time, a little before Airflow's own trigger timeout (start date +
    execution_timeout), so the task, not Airflow, ends the wait and can cancel the job."""
    if not execution_timeout:
        return None
    start = context["ti"].start_date
    budget = execution_timeout.total_seconds()
    begun = start.timestamp() if start else time.time()
    return begun + budget - min(30.0, budget * 0.1)


class TaskStateJobs:
    """The job id saved right after sbatch, so a retry adopts its job; None when the task has no state store
    (then nothing proves an ended job was already handled)."""

    def __init__(self, context: Context) -> None:
        self._store: Any = context.get("task_state_store")

    def load(self) -> SavedJob | None:
        if self._store is None:
            return None
        raw = self._store.get(STATE_KEY)
        if not isinstance(raw, dict):
            return SavedJob()
        job_id, cluster, done = raw.get("job_id"), raw.get("cluster"), raw.get("done")
        return SavedJob(
            job_id=str(job_id) if job_id else None,
            cluster=str(cluster) if cluster else None,
            done=frozenset(str(d) for d in done) if isinstance(done, list) else frozenset(),
        )

    def save(self, saved: SavedJob) -> None:
        if self._store is not None:
            self._store.set(STATE_KEY, {"job_id": saved.job_id, "cluster": saved.cluster, "done": sorted(saved.done)})

    def mark_done(self, job_id: str, cluster: str | None) -> None:
        """The job's end was handled: a retry makes a new job instead of adopting this one."""
        saved = self.load()
        if saved is not None:
            self.save(SavedJob(job_id, cluster, saved.done | {job_id}))
