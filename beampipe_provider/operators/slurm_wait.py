"""How a Slurm task waits: for room in the account's queue (SlurmAdmissionTrigger), and, not deferrable, for its
job in the worker with the trigger's own code, a wait its on_kill can stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger

from beampipe_provider.operators.task_state import task_deadline
from beampipe_provider.runs.lifecycle import RunLifecycle
from beampipe_provider.scheduler.admission import QueueShare
from beampipe_provider.scheduler.slurm import SbatchOptions
from beampipe_provider.triggers.events import AdmissionEvent, first_payload
from beampipe_provider.triggers.slurm import SlurmAdmissionTrigger

CLAIM_WHILE_WAITING = timedelta(days=1)  # without an execution_timeout, how long a run waiting for room stays ours


class SlurmWaits(BaseOperator):
    """The waiting half of SlurmJobOperator, which sets these attributes and defines `_start`."""

    ssh_conn_id: str
    poll_interval: float
    limits_ttl: float
    deferrable: bool
    run_key: str | None
    _lifecycle: RunLifecycle | None
    _waiting: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any] | None] | None

    def _start(self, context: Context) -> Any:
        raise NotImplementedError

    def execute_admitted(self, context: Context, event: dict[str, Any]) -> Any:
        """Back from SlurmAdmissionTrigger: the queue has room, so try to submit again."""
        self._admitted(AdmissionEvent.from_payload(event))
        return self._start(context)

    def _wait_for_room(self, context: Context, options: SbatchOptions, share: QueueShare, why: str) -> None:
        """The account's queue is full: wait, without holding a submission slot, until SlurmAdmissionTrigger sees
        room. Not a failure: a survey of 500 runs trickles in at the pace the facility allows."""
        self.log.info("Not submitting yet: %s. Waiting for room in the queue.", why)
        lifecycle = self._lifecycle
        if lifecycle and not lifecycle.keep_claim(lifecycle.current(), self.execution_timeout or CLAIM_WHILE_WAITING):
            self.log.warning("The claim on run %s expired before it could be renewed", self.run_key)
        trigger = SlurmAdmissionTrigger(
            job_name=options.job_name,
            ssh_conn_id=self.ssh_conn_id,
            clusters=options.clusters,
            max_queued=share.cap,
            group=share.group,
            share=share.share,
            poll_interval=self.poll_interval,
            limits_ttl=self.limits_ttl,
            deadline=task_deadline(context, self.execution_timeout),
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_admitted")
        self._admitted(AdmissionEvent.from_payload(self._wait_in_worker(trigger)))

    def _wait_in_worker(self, trigger: BaseTrigger) -> dict[str, Any]:
        """The trigger's own code in this process, so both modes behave alike. Airflow's SIGTERM handler only calls
        on_kill and lets execute go on, so on_kill stops this wait at once: the task ends in seconds, not when the
        supervisor's grace period runs out."""

        async def wait() -> dict[str, Any]:
            self._waiting = (asyncio.get_running_loop(), asyncio.current_task())
            return await first_payload(trigger)

        try:
            return asyncio.run(wait())
        except asyncio.CancelledError:
            raise AirflowException("the task was killed while it waited for Slurm") from None
        finally:
            self._waiting = None

    def _admitted(self, event: AdmissionEvent) -> None:
        if not event.admitted:
            raise AirflowException(f"Slurm job not submitted: {event.message}")
        self.log.info("Submitting: %s", event.message)

    def _stop_waiting(self) -> None:
        """Stop the in-worker wait as soon as the running signal handler returns."""
        if self._waiting is not None:
            loop, waiting = self._waiting
            if waiting is not None:
                loop.call_soon_threadsafe(waiting.cancel)
