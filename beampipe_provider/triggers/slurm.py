"""SlurmJobTrigger waits on the triggerer until Slurm jobs end; SlurmAdmissionTrigger until the account's queue has
room for one more. They only read the scheduler; tasks write the ledger. All triggers of one login node in one
triggerer share a JobTracker (one batched squeue/sacct per poll cycle) and an AdmissionQueue (one squeue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from beampipe_provider.scheduler.admission import AdmissionQueue, QueueShare, QueueStalled
from beampipe_provider.scheduler.base import JobStatus, Phase, SchedulerError
from beampipe_provider.scheduler.tracker import (
    MAX_SILENCE_S,
    SHARED_TRACKERS,
    JobLost,
    JobTracker,
    TrackerRegistry,
    TrackerStalled,
)
from beampipe_provider.triggers.events import AdmissionEvent, JobEvent, JobOutcome


class SlurmJobTrigger(BaseTrigger):
    """Fires once, when every job in `job_ids` has ended, or at `deadline` (epoch seconds), or if a job is lost.

    Event: `triggers.events.JobEvent` ("failed" covers FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY and the other
    unsuccessful ends; each job's own state is in its `jobs`).
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
        stall_after: float = MAX_SILENCE_S,
    ) -> None:
        super().__init__()
        self.job_ids = list(job_ids)
        self.ssh_conn_id = ssh_conn_id
        self.clusters = clusters
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.unknown_grace = unknown_grace
        self.stall_after = stall_after  # no good poll for this long: the wait ends with an error, never hangs

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
                "stall_after": self.stall_after,
            },
        )

    def _hook(self) -> Any:
        from beampipe_provider.hooks.slurm import SlurmHook

        return SlurmHook(ssh_conn_id=self.ssh_conn_id, clusters=self.clusters)

    def _tracker(self) -> JobTracker:
        hook = self._hook()
        return SHARED_TRACKERS.get(
            (self.ssh_conn_id, self.clusters),
            lambda: JobTracker(
                hook.aget_scheduler,
                poll_interval=self.poll_interval,
                unknown_grace=self.unknown_grace,
                max_silence=self.stall_after,
            ),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        tracker = self._tracker()
        waits = [asyncio.ensure_future(tracker.wait(job_id, deadline=self.deadline)) for job_id in self.job_ids]
        try:
            done: list[JobStatus] = await asyncio.gather(*waits)
        except TimeoutError:
            yield self._event("timeout", [], f"jobs {', '.join(self.job_ids)} still running at the deadline")
            return
        except (JobLost, TrackerStalled) as exc:
            yield self._event("error", [], str(exc))
            return
        finally:
            for wait in waits:
                wait.cancel()
        yield JobEvent.ended(done).event()

    def _event(self, status: JobOutcome, jobs: list[JobStatus], message: str) -> TriggerEvent:
        return JobEvent(status, self.job_ids, message, jobs).event()

    async def on_kill(self) -> None:
        """The user killed the task (mark failed, clear): cancel its jobs that are still live; an ended job keeps
        its outcome for the task's retry to adopt. Never done in cleanup()."""
        try:
            scheduler = await self._hook().aget_scheduler()
        except Exception as exc:  # a kill must not raise
            self.log.error("Could not reach Slurm to cancel jobs %s: %r", ", ".join(self.job_ids), exc)
            return
        try:
            statuses = await scheduler.status(self.job_ids)
            live = [i for i, s in statuses.items() if not s.phase.terminal and s.phase is not Phase.UNKNOWN]
            if live:
                await scheduler.cancel(live)
                self.log.info("Cancelled Slurm jobs %s", ", ".join(live))
        except SchedulerError as exc:
            self.log.error("Could not cancel Slurm jobs %s: %s", ", ".join(self.job_ids), exc)
        finally:
            await scheduler.close()


SHARED_ADMISSIONS: TrackerRegistry[AdmissionQueue] = TrackerRegistry()


class SlurmAdmissionTrigger(BaseTrigger):
    """Fires when the account's queue has room for job `job_name`: under the site's MaxSubmitJobs and MaxJobs
    (re-read every `limits_ttl` s), the facility's `max_queued`, and `group`'s `share` of that bound. All waiters of
    one login node in one triggerer share an AdmissionQueue: one squeue per poll cycle however many wait.

    Event: `triggers.events.AdmissionEvent`.
    """

    def __init__(
        self,
        *,
        job_name: str,
        ssh_conn_id: str,
        clusters: str | None = None,
        max_queued: int | None = None,
        group: str | None = None,
        share: float = 1.0,
        poll_interval: float = 30.0,
        limits_ttl: float = 60.0,
        deadline: float | None = None,
        stall_after: float = MAX_SILENCE_S,
    ) -> None:
        super().__init__()
        self.job_name = job_name
        self.ssh_conn_id = ssh_conn_id
        self.clusters = clusters
        self.max_queued = max_queued
        self.group = group
        self.share = share
        self.poll_interval = poll_interval
        self.limits_ttl = limits_ttl
        self.deadline = deadline
        self.stall_after = stall_after  # no good read of the queue for this long: the wait ends with an error

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "ssh_conn_id": self.ssh_conn_id,
                "clusters": self.clusters,
                "max_queued": self.max_queued,
                "group": self.group,
                "share": self.share,
                "poll_interval": self.poll_interval,
                "limits_ttl": self.limits_ttl,
                "deadline": self.deadline,
                "stall_after": self.stall_after,
            },
        )

    def _queue(self) -> AdmissionQueue:
        from beampipe_provider.hooks.slurm import SlurmHook

        hook = SlurmHook(ssh_conn_id=self.ssh_conn_id, clusters=self.clusters)
        return SHARED_ADMISSIONS.get(
            (self.ssh_conn_id, self.clusters),
            lambda: AdmissionQueue(
                hook.aget_scheduler,
                poll_interval=self.poll_interval,
                caps_ttl=self.limits_ttl,
                max_silence=self.stall_after,
            ),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        want = QueueShare(cap=self.max_queued, group=self.group, share=self.share)
        try:
            why = await self._queue().wait(self.job_name, want, deadline=self.deadline)
        except TimeoutError:
            yield AdmissionEvent("timeout", "the queue was still full at the task's deadline").event()
            return
        except QueueStalled as exc:
            yield AdmissionEvent("error", str(exc)).event()
            return
        yield AdmissionEvent("admitted", why).event()
