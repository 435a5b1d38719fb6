"""Slurm through a transport: the sync scheduler for workers, the async one for triggers. Both drive the same
steps (`steps.py`), so they cannot drift apart."""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Generator, Hashable, Sequence
from typing import Any, TypeVar

from beampipe_provider.common.sansio import Done, advance
from beampipe_provider.scheduler.admission import Bounds, Caps, QueuedJob, QueueShare, bounds, tag_comment
from beampipe_provider.scheduler.base import (
    JobStatus,
    SchedulerUnavailable,
    SubmissionUncertain,
    SubmittedJob,
    TransportError,
)
from beampipe_provider.scheduler.slurm import steps
from beampipe_provider.scheduler.slurm.limits import SiteLimits, admit, cached_limits
from beampipe_provider.scheduler.slurm.options import SbatchOptions
from beampipe_provider.scheduler.transport import AsyncTransport, CommandResult, ConnectError, LoginRefused, Transport

T = TypeVar("T")
log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 120.0  # a login node under load can take tens of seconds; a hung command must end
LIMITS_TTL_S = 60.0  # partitions and associations change rarely; a changed limit is seen within a minute
OUTAGE_BUDGET_S = 300.0  # how long a task waits, within its try, for slurmctld/slurmdbd/sshd to come back


def _uncertain(command: steps.Command, exc: TransportError) -> SubmissionUncertain:
    return SubmissionUncertain(f"the connection dropped while `{command.argv[0]}` ran, the job may exist: {exc}")


class SlurmScheduler:
    """Slurm for tasks: one connection (commands and SFTP) for as long as the caller keeps the scheduler."""

    name = "slurm"

    def __init__(
        self,
        transport: Transport,
        *,
        clusters: str | None = None,
        timeout: float = COMMAND_TIMEOUT_S,
        limits_key: Hashable | None = None,
        limits_ttl: float = LIMITS_TTL_S,
        outage_budget_s: float = OUTAGE_BUDGET_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.clusters = clusters
        self.timeout = timeout
        self.limits_key = limits_key  # the login node's identity, for the limits kept `limits_ttl` s
        self.limits_ttl = limits_ttl
        self.outage_budget_s = outage_budget_s
        self._sleep = sleep

    def __enter__(self) -> SlurmScheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drive(self, work: Generator[steps.Command, CommandResult, T]) -> T:
        step = advance(work, None)
        while not isinstance(step, Done):
            step = advance(work, self._run(step))
        return step.value

    def _run(self, step: steps.Command) -> CommandResult:
        """One command. While the login node cannot be reached (the command was never sent) or Slurm's daemons do
        not answer (the command did nothing), wait with backoff, up to `outage_budget_s`, and send it again: a
        restart of slurmctld or sshd costs no retry of the task. A connection lost after sbatch was sent is
        another matter: the job may exist (SubmissionUncertain)."""
        waited, pause = 0.0, 2.0
        while True:
            try:
                result = self.transport.run(step.line, stdin=step.stdin, timeout=self.timeout)
            except LoginRefused:
                raise
            except ConnectError as exc:
                why: str = str(exc)
            except TransportError as exc:
                raise (_uncertain(step, exc) if step.submits else exc) from exc
            else:
                if not steps.unreachable(result):
                    return result
                why = (result.stderr.strip().splitlines() or ["no answer"])[-1]
            if waited >= self.outage_budget_s:
                raise SchedulerUnavailable(f"`{step.argv[0]}`: Slurm unreachable for {waited:.0f} s: {why}")
            log.warning(
                "Slurm unreachable (%s): `%s` again in %.0f s (waited %.0f of %.0f s)",
                why,
                step.argv[0],
                pause,
                waited,
                self.outage_budget_s,
            )
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, 30.0)

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

    def submit_request(self, request: SbatchOptions, script: str, share: QueueShare) -> SubmittedJob:
        """Refuse (RequestRefused) what the site's partitions and the user's association can never grant; choose the
        first candidate partition that fits; submit guarded by the account's queue bounds and `share` of them
        (QueueFull when there is no room), asking sbatch --test-only when the job would start."""
        if self.limits_key is None:
            limits = self.limits()
        else:
            limits = cached_limits((self.limits_key, self.clusters), self.limits_ttl, self.limits)
        options = admit(request, limits)
        options = options.model_copy(update={"comment": tag_comment(options.comment or "", share.group)})
        submitted = self.submit(options, script, guard=bounds(limits.user.caps, share), estimate=True)
        chosen = options.partition if request.partition != options.partition else None
        return SubmittedJob(
            submitted.job_id, submitted.cluster, chosen, submitted.estimated_start, submitted.estimate_note
        )

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

    def files(self) -> SlurmFiles:
        return SlurmFiles(self)

    def close(self) -> None:
        self.transport.close()


class SlurmFiles:
    """The facility's filesystem as the login node sees it, over the scheduler's own connection."""

    def __init__(self, scheduler: SlurmScheduler) -> None:
        self._scheduler = scheduler

    def expand_path(self, path: str) -> str:
        return self._scheduler.expand_path(path)

    def read_text(self, path: str) -> str:
        return self._scheduler.read_text(path)

    def checksums(self, paths: Sequence[str]) -> dict[str, str]:
        return self._scheduler.checksums(paths)

    def sftp(self) -> Any:
        return self._scheduler.transport.open_sftp()

    def write_text(self, path: str, text: str) -> None:
        """Written beside its final name, then renamed: a reader never sees half a file."""
        sftp = self.sftp()
        try:
            partial = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.partial")
            with sftp.open(partial, "w") as handle:
                handle.write(text)
            sftp.posix_rename(partial, path)
        finally:
            sftp.close()


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
