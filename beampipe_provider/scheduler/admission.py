"""Admission control: how many jobs an account (and one survey within it) may keep in a batch queue, and who
may submit next when it is full. Scheduler-agnostic, no Airflow.

The bound is the tightest of MaxSubmitJobs (beyond it sbatch refuses), twice MaxJobs (jobs beyond MaxJobs only
pend; one full wave of them is kept so a slot Slurm frees is filled at once, not at the next poll) and the
facility's own cap. A group (a survey) may hold `share` of that bound, so surveys sharing an account each get
their part. Waiting submitters share one `AdmissionQueue` per login node: one queue listing per poll cycle however
many wait, and slots are handed out first come, first served, each grant held until its job shows in the queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from beampipe_provider.scheduler.base import SchedulerError

log = logging.getLogger(__name__)

GROUP_TAG = "group="  # the last word of a job's comment names its group: `beampipe run <key> group=wallaby_hires`


@dataclass(frozen=True)
class Caps:
    """The account's per-user caps as the scheduler enforces them; None is no cap."""

    max_submit: int | None = None  # pending + running (Slurm: MaxSubmitJobs)
    max_jobs: int | None = None  # running (Slurm: MaxJobs)


@dataclass(frozen=True)
class QueueShare:
    """What one submitter asks of the queue: the facility's cap, and its group's share of the bound."""

    cap: int | None = None
    group: str | None = None
    share: float = 1.0

    def __post_init__(self) -> None:
        if self.cap is not None and self.cap < 1:
            raise ValueError(f"max_queued must be at least 1, not {self.cap}")
        if not 0 < self.share <= 1:
            raise ValueError(f"share must be in (0, 1], not {self.share}")


@dataclass(frozen=True)
class Bounds:
    """How many jobs may be queued at once: in all (`total`) and of `group` (`group_total`); None is unbounded."""

    total: int | None
    group: str | None
    group_total: int | None
    why: str  # which limit set `total`, for the log: "MaxSubmitJobs 20"

    @property
    def unbounded(self) -> bool:
        return self.total is None and self.group_total is None


def bounds(caps: Caps, want: QueueShare) -> Bounds:
    candidates = [
        (caps.max_submit, f"MaxSubmitJobs {caps.max_submit}"),
        (None if caps.max_jobs is None else 2 * caps.max_jobs, f"twice MaxJobs {caps.max_jobs}"),
        (want.cap, f"the facility's max_queued {want.cap}"),
    ]
    known = [(n, why) for n, why in candidates if n is not None]
    total, why = min(known) if known else (None, "no limit")
    group_total = None
    if want.group and total is not None and want.share < 1:
        group_total = max(1, math.floor(total * want.share))
    return Bounds(total, want.group if group_total is not None else None, group_total, why)


@dataclass(frozen=True)
class QueuedJob:
    """A job of the account in the queue (pending or running); array tasks are listed one by one."""

    job_id: str
    name: str
    state: str
    group: str | None = None


def group_of(comment: str) -> str | None:
    last = comment.rsplit(" ", 1)[-1]
    return last.removeprefix(GROUP_TAG) if last.startswith(GROUP_TAG) else None


def safe_group(name: str | None) -> str | None:
    """A group as one word of a job comment: letters, digits, `_.-` (a survey name with others is mapped)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) if name else None


def tag_comment(comment: str, group: str | None) -> str:
    return f"{comment} {GROUP_TAG}{group}" if group else comment


def full_because(limit: Bounds, queued: Sequence[QueuedJob], held: int = 0, group_held: int = 0) -> str | None:
    """Why one more job may not be queued now (`held`: slots granted but not yet in the queue), or None."""
    if limit.total is not None and len(queued) + held >= limit.total:
        return f"{len(queued) + held} of {limit.total} jobs queued ({limit.why})"
    if limit.group_total is not None:
        mine = sum(1 for job in queued if job.group == limit.group) + group_held
        if mine >= limit.group_total:
            return f"{mine} of {limit.group_total} jobs of {limit.group} queued (its share of {limit.total})"
    return None


class QueueFull(SchedulerError):
    """No room in the queue for this job now: wait for capacity, then submit. Never a failure of the run."""


class QueueStalled(SchedulerError):
    """No read of the queue has succeeded for longer than the admission queue's `max_silence`."""


class QueueSource(Protocol):
    async def caps(self) -> Caps: ...

    async def queue(self) -> list[QueuedJob]: ...

    async def close(self) -> None: ...


@dataclass
class AdmissionStats:
    cycles: int = 0
    queue_calls: int = 0
    caps_calls: int = 0
    poll_errors: int = 0
    grants: int = 0
    max_waiting: int = 0


@dataclass
class _Waiter:
    name: str
    want: QueueShare
    future: asyncio.Future[str]


@dataclass
class _Grant:
    name: str
    group: str | None
    expires: float


@dataclass
class AdmissionQueue:
    """Waiters for one login node (and cluster). Each poll cycle reads the queue once (the caps every `caps_ttl`)
    and grants free slots in arrival order; a grant counts as queued until its job is listed or `grant_ttl` passes
    (the woken task may be slow to start), so waking tasks do not race each other into sbatch refusals."""

    open_source: Callable[[], Awaitable[QueueSource]]
    poll_interval: float = 30.0
    caps_ttl: float = 60.0
    grant_ttl: float | None = None  # default: 3 poll intervals, at least a minute (a woken task may start slowly)
    max_silence: float = 900.0  # without one good read of the queue for this long, waiters fail (QueueStalled)
    stats: AdmissionStats = field(default_factory=AdmissionStats)
    _waiters: list[_Waiter] = field(default_factory=list)
    _grants: list[_Grant] = field(default_factory=list)
    _caps: tuple[float, Caps] | None = None
    _loop_task: asyncio.Task[None] | None = None

    async def wait(self, name: str, want: QueueShare, *, deadline: float | None = None) -> str:
        """Returns, with why it may submit, once job `name` fits; TimeoutError at `deadline` (epoch seconds)."""
        # Back again after a grant (its sbatch met a full queue after all): that grant is used up.
        self._grants = [g for g in self._grants if g.name != name]
        waiter = _Waiter(name, want, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self.stats.max_waiting = max(self.stats.max_waiting, len(self._waiters))
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._poll_loop())
        try:
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _poll_loop(self) -> None:
        """Survives any error; after `max_silence` without one good read, every waiter fails with QueueStalled."""
        source: QueueSource | None = None
        last_ok = time.monotonic()
        try:
            # Grants outlive their waiters: keep reading the queue until each one's job is listed (or its ttl
            # passes), or a later burst of waiters would not count slots already promised.
            while self._waiters or self._grants:
                try:
                    source = source or await self.open_source()
                    await self._cycle(source)
                    last_ok = time.monotonic()
                except Exception as exc:  # the loop must outlive any error; waiters learn of it below
                    self.stats.poll_errors += 1
                    log.warning(
                        "reading the queue for admission failed, next try in %.0f s: %r", self.poll_interval, exc
                    )
                    if time.monotonic() - last_ok > self.max_silence:
                        stalled = QueueStalled(f"no read of the queue succeeded for {self.max_silence:.0f} s: {exc!r}")
                        for waiter in self._waiters:
                            if not waiter.future.done():
                                waiter.future.set_exception(stalled)
                if not (self._waiters or self._grants):
                    break
                await asyncio.sleep(self.poll_interval)
        finally:
            if source is not None:
                with contextlib.suppress(Exception):
                    await source.close()

    async def _cycle(self, source: QueueSource) -> None:
        self.stats.cycles += 1
        now = time.monotonic()
        if self._caps is None or self._caps[0] <= now:
            self.stats.caps_calls += 1
            self._caps = (now + self.caps_ttl, await source.caps())
        caps = self._caps[1]
        self.stats.queue_calls += 1
        queued = await source.queue()
        listed = {job.name for job in queued}
        self._grants = [g for g in self._grants if g.name not in listed and g.expires > time.monotonic()]
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            limit = bounds(caps, waiter.want)
            group_held = sum(1 for g in self._grants if g.group is not None and g.group == limit.group)
            if full_because(limit, queued, len(self._grants), group_held) is None:
                ttl = self.grant_ttl if self.grant_ttl is not None else max(60.0, 3 * self.poll_interval)
                self._grants.append(_Grant(waiter.name, waiter.want.group, time.monotonic() + ttl))
                self.stats.grants += 1
                waiter.future.set_result(f"room in the queue: {len(queued) + len(self._grants)} of {limit.total}")
