"""Tracking many deferred Slurm jobs from one process, against the real local cluster (scripts/local-slurm).

N held jobs (real jobs in slurmctld, pending until released) are tracked for a few poll cycles two ways:
- shared: every waiter on one JobTracker, i.e. what N SlurmJobTriggers in one triggerer do;
- baseline: one SSH connection and one status command per job per cycle, as the SSH provider's
  SSHRemoteJobTrigger does (it holds a connection per trigger and runs its check command each poll).
Printed per N: SSH connections opened, scheduler commands per cycle, CPU seconds per cycle, and memory per
tracked job (Python allocations attributable to tracking, by tracemalloc), with ratios baseline/shared.
Targets: one connection per login node, at most one squeue (and one sacct) per 500 jobs per cycle, < 20 KB/job.

    .venv/bin/python bench/slurm_tracking.py [--jobs 200 1000] [--cycles 3] [--baseline-cycles 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beampipe_provider.scheduler.slurm import AsyncSlurmScheduler
from beampipe_provider.scheduler.tracker import JobTracker
from beampipe_provider.scheduler.transport import AsyncsshTransport, CommandResult, asyncssh_connect
from tests.slurm_cluster import LocalSlurm, local_slurm


class Counting:
    """An async transport that counts what it runs."""

    def __init__(self, inner: AsyncsshTransport) -> None:
        self.inner = inner
        self.commands = 0

    async def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult:
        self.commands += 1
        return await self.inner.run(command, stdin=stdin, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()


def submit_held(slurm: LocalSlurm, n: int) -> list[str]:
    """N held jobs in one remote command (a loop of sbatch on the login node)."""
    client = slurm.connect()
    try:
        loop = f"for i in $(seq {n}); do sbatch --parsable --hold --job-name=bp-bench-$i --wrap true; done"
        _, out, _ = client.exec_command(loop, timeout=600)
        return [line.strip() for line in out.read().decode().splitlines() if line.strip()]
    finally:
        client.close()


def cancel(slurm: LocalSlurm, ids: list[str]) -> None:
    for start in range(0, len(ids), 500):
        slurm.admin("scancel", *ids[start : start + 500])


async def shared(slurm: LocalSlurm, ids: list[str], cycles: int, interval: float) -> dict[str, float]:
    target = slurm.target()
    transport = Counting(AsyncsshTransport(lambda: asyncssh_connect(target)))

    async def open_source() -> AsyncSlurmScheduler:
        return AsyncSlurmScheduler(transport)

    tracker = JobTracker(open_source, poll_interval=interval)
    # Warm up with one job (imports, the SSH connection), then count what the other N-1 waiters add in a cycle.
    waits = [asyncio.ensure_future(tracker.wait(ids[0]))]
    while tracker.stats.cycles < 1:
        await asyncio.sleep(0.05)
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    waits += [asyncio.ensure_future(tracker.wait(job_id)) for job_id in ids[1:]]
    warm = tracker.stats.cycles
    while tracker.stats.cycles < warm + 1:
        await asyncio.sleep(0.05)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    tracemalloc.stop()
    cpu0, wall0, cmd0, cyc0 = time.process_time(), time.perf_counter(), transport.commands, tracker.stats.cycles
    while tracker.stats.cycles < cyc0 + cycles:
        await asyncio.sleep(0.05)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    commands = transport.commands - cmd0
    for wait in waits:
        wait.cancel()
    await asyncio.gather(*waits, return_exceptions=True)
    await transport.close()
    return {
        "connections": transport.inner.connections_opened,
        "commands_per_cycle": commands / cycles,
        "cpu_s_per_cycle": cpu / cycles,
        "wall_s_per_cycle": wall / cycles,
        "bytes_per_job": grown / (len(ids) - 1),
    }


async def baseline(slurm: LocalSlurm, ids: list[str], cycles: int) -> dict[str, float]:
    """One connection per job, held across polls; each poll runs one squeue for that job."""
    target = slurm.target()
    refused = 0

    async def one(job_id: str) -> int:
        nonlocal refused
        transport = AsyncsshTransport(lambda: asyncssh_connect(target))
        scheduler = AsyncSlurmScheduler(transport)
        commands = 0
        try:
            for _ in range(cycles):
                await scheduler.status([job_id])
                commands += 2  # squeue, and sacct is not needed for a held job; the SSH trigger runs two per poll
        except Exception:
            refused += 1
        finally:
            await transport.close()
        return commands

    tracemalloc.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(one(j) for j in ids))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "connections": len(ids),
        "commands_per_cycle": len(ids) * 1.0,  # one status command per job per cycle (squeue)
        "cpu_s_per_cycle": cpu / cycles,
        "wall_s_per_cycle": wall / cycles,
        "bytes_per_job": peak / len(ids),
        "refused": refused,
        "polls_done": sum(counts) / 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--baseline-cycles", type=int, default=1)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    slurm = local_slurm()
    header = ("N", "mode", "conns", "cmds/cycle", "cpu s/cycle", "wall s/cycle", "KB/job")
    print("{:>6} {:>9} {:>6} {:>10} {:>11} {:>12} {:>7}".format(*header))
    for n in args.jobs:
        t0 = time.perf_counter()
        ids = submit_held(slurm, n)
        print(f"# submitted {len(ids)} held jobs in {time.perf_counter() - t0:.1f} s")
        try:
            ours = asyncio.run(shared(slurm, ids, args.cycles, args.interval))
            theirs = asyncio.run(baseline(slurm, ids, args.baseline_cycles))
        finally:
            cancel(slurm, ids)
        for mode, r in (("shared", ours), ("baseline", theirs)):
            print(
                f"{n:>6} {mode:>9} {r['connections']:>6.0f} {r['commands_per_cycle']:>10.1f} "
                f"{r['cpu_s_per_cycle']:>11.3f} {r['wall_s_per_cycle']:>12.2f} {r['bytes_per_job'] / 1024:>7.1f}"
            )
        print(
            f"{n:>6} {'ratio':>9} {theirs['connections'] / ours['connections']:>6.0f} "
            f"{theirs['commands_per_cycle'] / ours['commands_per_cycle']:>10.0f} "
            f"{theirs['cpu_s_per_cycle'] / ours['cpu_s_per_cycle']:>11.1f} "
            f"{theirs['wall_s_per_cycle'] / ours['wall_s_per_cycle']:>12.1f}   (baseline / shared)"
        )
        print(f"# baseline: {theirs['refused']:.0f} of {n} per-job connections refused or dropped by sshd")


if __name__ == "__main__":
    main()
