"""Track many jobs from one event loop: one poll loop per login node, one batched status call per cycle.

A triggerer may hold a thousand deferred Slurm tasks. Polled one by one that is a thousand SSH sessions and a
thousand squeue calls per cycle, which login nodes refuse. Here every waiter on the same key shares one
scheduler (one SSH connection) and one `status()` per cycle. Poll errors never fail a job: the loop backs off
with jitter and reconnects; only the waiter's own deadline, or a job missing from both squeue and sacct for
longer than `unknown_grace`, ends a wait without a terminal state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from beampipe_provider.scheduler.base import JobStatus, Phase, SchedulerError

log = logging.getLogger(__name__)
Shared = TypeVar("Shared")


class StatusSource(Protocol):
    async def status(self, job_ids: Sequence[str]) -> Mapping[str, JobStatus]: ...

    async def close(self) -> None: ...


class JobLost(SchedulerError):
    """Neither squeue nor sacct has known the job for longer than the grace period."""


class TrackerStalled(SchedulerError):
    """No poll of the scheduler has succeeded for longer than the tracker's `max_silence`: every waiter is told why,
    instead of waiting for ever on a loop that cannot work (a missing connection, a login node gone for good)."""


MAX_SILENCE_S = 900.0  # a slurmctld or sshd restart takes tens of seconds; a quarter of an hour is not a restart


@dataclass
class TrackerStats:
    cycles: int = 0
    status_calls: int = 0
    poll_errors: int = 0
    max_tracked: int = 0


@dataclass
class _Watch:
    future: asyncio.Future[JobStatus]
    unknown_since: float | None = None
    ended_without_code: float | None = None  # when squeue first showed it ended while sacct had no exit code


# How long an ended job waits for sacct's exit code before it is reported without one: slurmdbd lags by seconds,
# more on a busy site, and an exit code is what the user reads first.
ACCOUNTING_WAIT_S = 30.0


@dataclass
class JobTracker:
    open_source: Callable[[], Awaitable[StatusSource]]
    poll_interval: float = 30.0
    unknown_grace: float = 600.0
    max_backoff: float = 300.0
    max_silence: float = MAX_SILENCE_S
    stats: TrackerStats = field(default_factory=TrackerStats)
    _watches: dict[str, list[_Watch]] = field(default_factory=dict)
    _loop_task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self, job_id: str, *, deadline: float | None = None) -> JobStatus:
        """The job's terminal status. Raises TimeoutError at `deadline` (epoch seconds), JobLost if it vanished."""
        watch = _Watch(asyncio.get_running_loop().create_future())
        self._watches.setdefault(job_id, []).append(watch)
        self.stats.max_tracked = max(self.stats.max_tracked, len(self._watches))
        self._ensure_polling()
        self._wake.set()  # a new job is polled at once, not after a full interval
        try:
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            return await asyncio.wait_for(asyncio.shield(watch.future), timeout)
        finally:
            self._forget(job_id, watch)

    def _forget(self, job_id: str, watch: _Watch) -> None:
        watches = self._watches.get(job_id, [])
        if watch in watches:
            watches.remove(watch)
        if not watches:
            self._watches.pop(job_id, None)

    def _ensure_polling(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._poll_loop())

    async def _poll_loop(self) -> None:
        """Survives any error (a missing connection, a bug in a parser): it logs, backs off and tries again; after
        `max_silence` without one good poll it fails every waiter with TrackerStalled, naming the last error."""
        source: StatusSource | None = None
        failures = 0
        last_ok = time.monotonic()
        try:
            while self._watches:
                self._wake.clear()
                try:
                    source = source or await self.open_source()
                    await self._cycle(source)
                    failures, last_ok = 0, time.monotonic()
                    pause = self.poll_interval
                except Exception as exc:  # the loop must outlive any error; waiters learn of it below
                    failures += 1
                    self.stats.poll_errors += 1
                    pause = _backoff(failures, self.poll_interval, self.max_backoff)
                    log.warning("polling Slurm failed (%d in a row), next try in %.0f s: %r", failures, pause, exc)
                    if time.monotonic() - last_ok > self.max_silence:
                        self._fail_all(
                            TrackerStalled(f"no poll of Slurm succeeded for {self.max_silence:.0f} s: {exc!r}")
                        )
                    if not isinstance(exc, SchedulerError) and source is not None:
                        stale, source = source, None  # an unexpected error: start afresh with a new connection
                        with contextlib.suppress(Exception):
                            await stale.close()
                if not self._watches:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
        finally:
            if source is not None:
                with contextlib.suppress(Exception):
                    await source.close()

    def _fail_all(self, error: SchedulerError) -> None:
        for watches in list(self._watches.values()):
            for watch in watches:
                if not watch.future.done():
                    watch.future.set_exception(error)

    async def _cycle(self, source: StatusSource) -> None:
        ids = list(self._watches)
        self.stats.cycles += 1
        self.stats.status_calls += 1
        found = await source.status(ids)
        now = time.monotonic()
        for job_id in ids:
            status = found.get(job_id)
            for watch in list(self._watches.get(job_id, [])):
                self._settle(watch, job_id, status, now)

    def _settle(self, watch: _Watch, job_id: str, status: JobStatus | None, now: float) -> None:
        if watch.future.done():
            return
        if status is not None and status.phase.terminal:
            if status.exit_code is None:
                watch.ended_without_code = watch.ended_without_code or now
                if now - watch.ended_without_code < ACCOUNTING_WAIT_S:
                    return
            watch.future.set_result(status)
        elif status is None or status.phase is Phase.UNKNOWN:
            watch.unknown_since = watch.unknown_since or now
            if now - watch.unknown_since > self.unknown_grace:
                watch.future.set_exception(
                    JobLost(f"job {job_id} is in neither squeue nor sacct for {self.unknown_grace:.0f} s")
                )
        else:
            watch.unknown_since = None


def _backoff(failures: int, interval: float, cap: float) -> float:
    """Exponential, capped, with jitter so many triggerers do not reconnect to one login node in step."""
    return min(cap, interval * 2.0 ** min(failures, 10)) * random.uniform(0.5, 1.0)  # noqa: S311 - not crypto


class TrackerRegistry(Generic[Shared]):
    """One tracker (or admission queue) per key (login node, clusters) per event loop: what triggers in one
    triggerer share."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Shared]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: Hashable, make: Callable[[], Shared]) -> Shared:
        trackers = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        if key not in trackers:
            trackers[key] = make()
        return trackers[key]


SHARED_TRACKERS: TrackerRegistry[JobTracker] = TrackerRegistry()
