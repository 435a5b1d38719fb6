"""Slurm through a transport: the sync scheduler for workers, the async one for triggers. Both drive the same
steps (`steps.py`), so they cannot drift apart."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TypeVar

from beampipe_provider.common.sansio import Done, advance
from beampipe_provider.scheduler.admission import Bounds, Caps, QueuedJob
from beampipe_provider.scheduler.base import JobStatus, SubmissionUncertain, SubmittedJob, TransportError
from beampipe_provider.scheduler.slurm import steps
from beampipe_provider.scheduler.slurm.limits import SiteLimits
from beampipe_provider.scheduler.slurm.options import SbatchOptions
from beampipe_provider.scheduler.transport import AsyncTransport, CommandResult, ConnectError, Transport

T = TypeVar("T")

COMMAND_TIMEOUT_S = 120.0  # a login node under load can take tens of seconds; a hung command must end


def _uncertain(command: steps.Command, exc: TransportError) -> SubmissionUncertain:
    return SubmissionUncertain(f"the connection dropped while `{command.argv[0]}` ran, the job may exist: {exc}")


class SlurmScheduler:
    name = "slurm"

    def __init__(self, transport: Transport, *, clusters: str | None = None, timeout: float = COMMAND_TIMEOUT_S):
        self.transport = transport
        self.clusters = clusters
        self.timeout = timeout

    def _drive(self, work: Generator[steps.Command, CommandResult, T]) -> T:
        step = advance(work, None)
        while not isinstance(step, Done):
            try:
                result = self.transport.run(step.line, stdin=step.stdin, timeout=self.timeout)
            except ConnectError:
                raise
            except TransportError as exc:
                raise (_uncertain(step, exc) if step.submits else exc) from exc
            step = advance(work, result)
        return step.value

    def submit(
        self,
        options: SbatchOptions,
        script: str,
        *,
        hold: bool = False,
        guard: Bounds | None = None,
        estimate: bool = False,
    ) -> SubmittedJob:
        return self._drive(steps.submit(options, script, hold=hold, guard=guard, estimate=estimate))

    def limits(self) -> SiteLimits:
        return self._drive(steps.read_limits(clusters=self.clusters))

    def queue(self) -> list[QueuedJob]:
        return self._drive(steps.user_queue(clusters=self.clusters))

    def find_by_name(self, name: str) -> list[JobStatus]:
        return self._drive(steps.find_by_name(name, clusters=self.clusters))

    def status(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return self._drive(steps.status(job_ids, clusters=self.clusters))

    def cancel(self, job_ids: Sequence[str]) -> None:
        self._drive(steps.cancel(job_ids, clusters=self.clusters))

    def log_tail(self, path: str, lines: int = 50) -> str:
        return self._drive(steps.log_tail(path, lines))

    def read_text(self, path: str) -> str:
        return self._drive(steps.read_text(path))

    def expand_path(self, path: str) -> str:
        return self._drive(steps.expand_path(path))

    def checksums(self, paths: Sequence[str]) -> dict[str, str]:
        return self._drive(steps.checksums(paths))

    def close(self) -> None:
        self.transport.close()


class AsyncSlurmScheduler:
    name = "slurm"

    def __init__(
        self, transport: AsyncTransport, *, clusters: str | None = None, timeout: float = COMMAND_TIMEOUT_S
    ) -> None:
        self.transport = transport
        self.clusters = clusters
        self.timeout = timeout

    async def _drive(self, work: Generator[steps.Command, CommandResult, T]) -> T:
        step = advance(work, None)
        while not isinstance(step, Done):
            try:
                result = await self.transport.run(step.line, stdin=step.stdin, timeout=self.timeout)
            except ConnectError:
                raise
            except TransportError as exc:
                raise (_uncertain(step, exc) if step.submits else exc) from exc
            step = advance(work, result)
        return step.value

    async def submit(
        self,
        options: SbatchOptions,
        script: str,
        *,
        hold: bool = False,
        guard: Bounds | None = None,
        estimate: bool = False,
    ) -> SubmittedJob:
        return await self._drive(steps.submit(options, script, hold=hold, guard=guard, estimate=estimate))

    async def limits(self) -> SiteLimits:
        return await self._drive(steps.read_limits(clusters=self.clusters))

    async def caps(self) -> Caps:
        return (await self.limits()).user.caps

    async def queue(self) -> list[QueuedJob]:
        return await self._drive(steps.user_queue(clusters=self.clusters))

    async def find_by_name(self, name: str) -> list[JobStatus]:
        return await self._drive(steps.find_by_name(name, clusters=self.clusters))

    async def status(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return await self._drive(steps.status(job_ids, clusters=self.clusters))

    async def cancel(self, job_ids: Sequence[str]) -> None:
        await self._drive(steps.cancel(job_ids, clusters=self.clusters))

    async def log_tail(self, path: str, lines: int = 50) -> str:
        return await self._drive(steps.log_tail(path, lines))

    async def close(self) -> None:
        await self.transport.close()
