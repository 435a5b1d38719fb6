"""SlurmJobTrigger: waits on the triggerer until Slurm jobs end. It only reads the scheduler; tasks write the
ledger. All triggers of one login node in one triggerer share a JobTracker: one SSH connection, one batched
squeue/sacct per poll cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from beampipe_provider.scheduler.base import JobStatus, Phase, SchedulerError
from beampipe_provider.scheduler.tracker import SHARED_TRACKERS, JobLost, JobTracker


class SlurmJobTrigger(BaseTrigger):
    """Fires once, when every job in `job_ids` has ended, or at `deadline` (epoch seconds), or if a job is lost.

    Event (one schema for every outcome): {"status": "success" | "failed" | "timeout" | "error",
    "job_ids": [...], "jobs": [JobStatus as JSON, ...], "message": str}. "failed" covers FAILED, CANCELLED,
    TIMEOUT, OUT_OF_MEMORY and the other unsuccessful ends; each job's own state is in "jobs".
    """

    def __init__(
        self,
        *,
        job_ids: list[str],
        ssh_conn_id: str,
        clusters: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        unknown_grace: float = 600.0,
    ) -> None:
        super().__init__()
        self.job_ids = list(job_ids)
        self.ssh_conn_id = ssh_conn_id
        self.clusters = clusters
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.unknown_grace = unknown_grace

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ids": self.job_ids,
                "ssh_conn_id": self.ssh_conn_id,
                "clusters": self.clusters,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "unknown_grace": self.unknown_grace,
            },
        )

    def _hook(self) -> Any:
        from beampipe_provider.hooks.slurm import SlurmHook

        return SlurmHook(ssh_conn_id=self.ssh_conn_id, clusters=self.clusters)

    def _tracker(self) -> JobTracker:
        hook = self._hook()
        return SHARED_TRACKERS.get(
            (self.ssh_conn_id, self.clusters),
            lambda: JobTracker(hook.aget_scheduler, poll_interval=self.poll_interval, unknown_grace=self.unknown_grace),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        tracker = self._tracker()
        waits = [asyncio.ensure_future(tracker.wait(job_id, deadline=self.deadline)) for job_id in self.job_ids]
        try:
            done: list[JobStatus] = await asyncio.gather(*waits)
        except TimeoutError:
            yield self._event("timeout", [], f"jobs {', '.join(self.job_ids)} still running at the deadline")
            return
        except JobLost as exc:
            yield self._event("error", [], str(exc))
            return
        finally:
            for wait in waits:
                wait.cancel()
        ok = all(s.phase is Phase.SUCCEEDED for s in done)
        summary = "; ".join(s.describe() for s in done)
        yield self._event("success" if ok else "failed", done, summary)

    def _event(self, status: str, jobs: list[JobStatus], message: str) -> TriggerEvent:
        return TriggerEvent(
            {"status": status, "job_ids": self.job_ids, "jobs": [s.to_json() for s in jobs], "message": message}
        )

    async def on_kill(self) -> None:
        """The user killed the task (mark failed, clear): cancel its jobs. Never done in cleanup()."""
        scheduler = await self._hook().aget_scheduler()
        try:
            await scheduler.cancel(self.job_ids)
            self.log.info("Cancelled Slurm jobs %s", ", ".join(self.job_ids))
        except SchedulerError as exc:
            self.log.error("Could not cancel Slurm jobs %s: %s", ", ".join(self.job_ids), exc)
        finally:
            await scheduler.close()
