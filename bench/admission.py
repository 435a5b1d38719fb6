"""500 short jobs against MaxSubmitJobs=20 on the local cluster: admission control against a naive submitter.

Admission: the provider's pieces as a triggerer and its workers use them, without Airflow. Every job is a waiter;
`--workers` submit at once (worker slots), each through the guarded sbatch (queue counted under the account's
lock); a job that finds the queue full waits on the shared AdmissionQueue (one squeue per poll cycle), then tries
again; jobs are tracked to their end by the shared JobTracker. Naive: `sbatch` in a loop, and on a refusal sleep
one poll interval and try again (what a script without limits does).

Printed for each: wall time against the ideal (jobs x duration / 20, and / the node's CPUs when it has fewer than
20), sbatch refusals (target 0), and scheduler commands per minute on the login node, by command (target: bounded,
independent of how many jobs wait). The test user's MaxSubmitJobs is set for the run and removed after.

    .venv/bin/python bench/admission.py [--jobs 500] [--duration 2] [--max-submit 20] [--poll 2] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beampipe_provider.scheduler.admission import AdmissionQueue, QueueFull, QueueShare, bounds
from beampipe_provider.scheduler.base import Phase
from beampipe_provider.scheduler.slurm import AsyncSlurmScheduler, sbatch_options
from beampipe_provider.scheduler.tracker import JobTracker
from beampipe_provider.scheduler.transport import AsyncsshTransport, CommandResult, asyncssh_connect
from tests.slurm_cluster import LocalSlurm, local_slurm


@dataclass
class Tally:
    commands: Counter[str] = field(default_factory=Counter)
    refusals: int = 0  # sbatch itself said no (a submit limit)
    held_back: int = 0  # the guard or the admission queue kept a job from sbatch


class CountingTransport(AsyncsshTransport):
    """Counts every command sent to the login node by its program (`flock` is the guarded sbatch)."""

    def __init__(self, slurm: LocalSlurm, tally: Tally) -> None:
        target = slurm.target()
        super().__init__(lambda: asyncssh_connect(target))
        self.tally = tally

    async def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult:
        words = command.split()
        program = words[2] if words[:2] == ["env", "TZ=UTC"] else words[0]
        self.tally.commands["sbatch (guarded)" if program == "flock" else program] += 1
        return await super().run(command, stdin=stdin, timeout=timeout)


def script(duration: float) -> str:
    return f"#!/bin/sh\nsleep {duration}\n"


async def admission(slurm: LocalSlurm, args: argparse.Namespace, tally: Tally) -> float:
    def open_scheduler() -> AsyncSlurmScheduler:
        return AsyncSlurmScheduler(CountingTransport(slurm, tally))

    async def source() -> AsyncSlurmScheduler:
        return open_scheduler()

    queue = AdmissionQueue(source, poll_interval=args.poll, caps_ttl=60.0)
    tracker = JobTracker(source, poll_interval=args.poll)
    submitter = open_scheduler()
    workers = asyncio.Semaphore(args.workers)
    caps = (await submitter.limits()).user.caps
    want = QueueShare()

    async def one(i: int) -> Phase:
        name = f"bp-bench-{uuid.uuid4().hex[:12]}"
        options = sbatch_options(job_name=name, time="5", output="/dev/null")
        while True:
            async with workers:
                try:
                    job = await submitter.submit(options, script(args.duration), guard=bounds(caps, want))
                    break
                except QueueFull as full:
                    tally.held_back += 1
                    tally.refusals += str(full).startswith("sbatch refused")
            await queue.wait(name, want)
        return (await tracker.wait(job.job_id)).phase

    start = time.monotonic()
    phases = await asyncio.gather(*(one(i) for i in range(args.jobs)))
    wall = time.monotonic() - start
    await submitter.close()
    assert all(p is Phase.SUCCEEDED for p in phases), Counter(phases)
    stats = queue.stats
    print(
        f"  admission queue: {stats.queue_calls * 60 / wall:.1f} squeue and {stats.caps_calls * 60 / wall:.1f} "
        f"limit reads per minute with up to {stats.max_waiting} jobs waiting; {stats.grants} grants"
    )
    return wall


async def naive(slurm: LocalSlurm, args: argparse.Namespace, tally: Tally) -> float:
    submitter = AsyncSlurmScheduler(CountingTransport(slurm, tally))

    async def source() -> AsyncSlurmScheduler:
        return AsyncSlurmScheduler(CountingTransport(slurm, tally))

    tracker = JobTracker(source, poll_interval=args.poll)
    start = time.monotonic()
    waits = []
    for _ in range(args.jobs):
        options = sbatch_options(job_name=f"bp-naive-{uuid.uuid4().hex[:12]}", time="5", output="/dev/null")
        while True:
            try:
                job = await submitter.submit(options, script(args.duration))
                break
            except QueueFull:
                tally.refusals += 1
                await asyncio.sleep(args.poll)
        waits.append(asyncio.ensure_future(tracker.wait(job.job_id)))
    phases = [s.phase for s in await asyncio.gather(*waits)]
    wall = time.monotonic() - start
    await submitter.close()
    assert all(p is Phase.SUCCEEDED for p in phases), Counter(phases)
    return wall


def report(name: str, wall: float, tally: Tally, args: argparse.Namespace, cpus: int) -> None:
    ideal = args.jobs * args.duration / args.max_submit
    slots = min(args.max_submit, cpus)
    ideal_node = args.jobs * args.duration / slots
    per_minute = {k: round(v * 60 / wall, 1) for k, v in sorted(tally.commands.items())}
    per_job = sum(tally.commands.values()) / args.jobs
    print(f"{name}:", flush=True)
    print(
        f"  wall {wall:.1f} s = {wall / ideal:.2f}x the ideal {ideal:.0f} s ({args.jobs} x {args.duration} s / "
        f"{args.max_submit}); {wall / ideal_node:.2f}x {ideal_node:.0f} s with the node's {slots} slots"
    )
    print(f"  sbatch refusals {tally.refusals}; held back before sbatch {tally.held_back}")
    print(f"  commands per minute {sum(per_minute.values()):.1f} ({per_job:.1f} per job): {per_minute}")


def node_cpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%C"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().split("/")[-1])  # allocated/idle/other/total


def set_max_submit(slurm: LocalSlurm, value: int) -> None:
    slurm.admin("sacctmgr", "-i", "modify", "user", slurm.user, "set", f"MaxSubmitJobs={value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds each job sleeps")
    parser.add_argument("--max-submit", type=int, default=20)
    parser.add_argument("--poll", type=float, default=2.0, help="poll interval (admission queue, tracker, naive)")
    parser.add_argument("--workers", type=int, default=4, help="submissions at once (worker slots)")
    args = parser.parse_args()
    slurm = local_slurm()
    cpus = node_cpus()
    set_max_submit(slurm, args.max_submit)
    try:
        for name, run in (("admission control", admission), ("naive sbatch loop, retry on refusal", naive)):
            tally = Tally()
            wall = asyncio.run(run(slurm, args, tally))
            report(name, wall, tally, args, cpus)
    finally:
        set_max_submit(slurm, -1)


if __name__ == "__main__":
    main()
