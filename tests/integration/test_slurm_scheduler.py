"""Slurm through SSH on the real local cluster (scripts/local-slurm): submit, track, cancel, and the faults a
login node really has (slurmctld restarts, dropped SSH connections, a lost sbatch answer)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from beampipe_provider.scheduler.admission import Caps, QueueFull, QueueShare, bounds, tag_comment
from beampipe_provider.scheduler.base import Phase, SubmissionUncertain, TransportError
from beampipe_provider.scheduler.slurm import SlurmScheduler, sbatch_options
from beampipe_provider.scheduler.tracker import JobTracker
from beampipe_provider.scheduler.transport import AsyncsshTransport, CommandResult, ParamikoTransport, asyncssh_connect
from tests.slurm_cluster import SCRIPT, LocalSlurm

STATE = Path(os.environ.get("BEAMPIPE_SLURM_STATE", "/var/lib/beampipe-slurm"))


def unique(prefix: str = "bp-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def scheduler(slurm: LocalSlurm) -> Iterator[SlurmScheduler]:
    scheduler = slurm.scheduler()
    yield scheduler
    scheduler.close()


def track(slurm: LocalSlurm, job_ids: list[str], *, deadline_s: float = 120, poll: float = 0.5) -> list:
    async def go() -> list:
        tracker = JobTracker(lambda: _async(slurm), poll_interval=poll, max_backoff=2)
        deadline = time.time() + deadline_s
        return list(await asyncio.gather(*(tracker.wait(j, deadline=deadline) for j in job_ids)))

    return asyncio.run(go())


async def _async(slurm: LocalSlurm):
    return slurm.async_scheduler()


def test_a_job_runs_and_its_output_is_read(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    name = unique()
    job = scheduler.submit(
        sbatch_options(job_name=name, comment="beampipe run abc", output=f"{name}-%j.out", time="5"),
        "#!/bin/bash\necho hello from $SLURM_JOB_ID\n",
    )
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.SUCCEEDED
    assert status.exit_code == 0
    assert status.started is not None
    assert status.ended is not None
    assert f"hello from {job.job_id}" in scheduler.log_tail(f"{name}-{job.job_id}.out")
    assert scheduler.status([job.job_id])[job.job_id].comment == "beampipe run abc"


def test_a_nonzero_exit_is_a_failure_with_its_code(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job = scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\nexit 7\n")
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.FAILED
    assert status.state == "FAILED"
    assert status.exit_code == 7


def test_a_job_cancelled_from_outside_is_cancelled(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job = scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\nsleep 60\n")
    slurm.wait_state(job.job_id, {"RUNNING"})
    slurm.admin("scancel", job.job_id)
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.CANCELLED
    assert status.state.startswith("CANCELLED by")


def test_cancel_through_the_scheduler(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job = scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\nsleep 60\n")
    scheduler.cancel([job.job_id])
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.CANCELLED


def test_time_limit_ends_in_timeout(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    # Slurm's smallest limit is one minute and it checks limits every 30 s: this test takes 60-100 s.
    job = scheduler.submit(sbatch_options(job_name=unique(), time="1"), "#!/bin/bash\nsleep 600\n")
    (status,) = track(slurm, [job.job_id], deadline_s=240, poll=2)
    assert status.phase is Phase.FAILED
    assert status.state == "TIMEOUT"


def test_memory_overuse_is_killed(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    # Without cgroups (not available here) Slurm kills an over-limit job by signal 9 and reports FAILED; with
    # task/cgroup a site reports OUT_OF_MEMORY, which the parser tests cover.
    job = scheduler.submit(
        sbatch_options(job_name=unique(), mem="50M"),
        "#!/bin/bash\npython3 -c 'import time; x = bytearray(400 * 2**20); time.sleep(10)'\n",
    )
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.FAILED
    assert status.signal == 9


def test_an_array_ends_when_every_task_has(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job = scheduler.submit(
        sbatch_options(job_name=unique(), array="0-3"), "#!/bin/bash\nexit $((SLURM_ARRAY_TASK_ID == 2))\n"
    )
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.FAILED
    assert status.state == "3 COMPLETED, 1 FAILED"


def test_find_by_name_sees_live_and_finished_jobs_with_exactly_that_name(scheduler: SlurmScheduler) -> None:
    name = unique()
    done = scheduler.submit(sbatch_options(job_name=name), "#!/bin/bash\ntrue\n")
    held = scheduler.submit(sbatch_options(job_name=name), "#!/bin/bash\ntrue\n", hold=True)
    other = scheduler.submit(sbatch_options(job_name=name + "-other"), "#!/bin/bash\ntrue\n", hold=True)
    try:
        time.sleep(2)
        found = scheduler.find_by_name(name)
        assert [j.job_id for j in found] == [done.job_id, held.job_id]
        assert found[1].phase is Phase.QUEUED
        assert found[1].reason == "JobHeldUser"
    finally:
        scheduler.cancel([held.job_id, other.job_id])


def test_a_job_nobody_knows_is_unknown_never_success(scheduler: SlurmScheduler) -> None:
    status = scheduler.status(["987654321"])["987654321"]
    assert status.phase is Phase.UNKNOWN


def test_hostile_values_are_quoted_and_never_run(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    marker = f"beampipe-pwned-{uuid.uuid4().hex}"
    comment = f"$(touch /tmp/{marker}); `touch /tmp/{marker}`"
    output = f"/tmp/bp out; touch {marker} %j.log"
    job = scheduler.submit(
        sbatch_options(job_name=unique(), comment=comment, output=output, within="/tmp"), "#!/bin/bash\necho ran\n"
    )
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.SUCCEEDED
    assert not Path("/tmp", marker).exists()
    assert not Path("/home", slurm.user, marker).exists()
    assert Path(f"/tmp/bp out; touch {marker} {job.job_id}.log").read_text() == "ran\n"
    assert scheduler.status([job.job_id])[job.job_id].comment == comment


class LosesTheAnswer:
    """Fault injection: the command runs on the login node, then the connection drops before its answer."""

    def __init__(self, inner: ParamikoTransport) -> None:
        self.inner = inner

    def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult:
        result = self.inner.run(command, stdin=stdin, timeout=timeout)
        if command.startswith("sbatch"):
            raise TransportError("connection reset by peer")
        return result

    def close(self) -> None:
        self.inner.close()


def test_a_lost_sbatch_answer_is_uncertain_and_the_job_is_found_by_name(slurm: LocalSlurm) -> None:
    flaky = SlurmScheduler(LosesTheAnswer(ParamikoTransport(slurm.connect)))
    name = unique()
    with pytest.raises(SubmissionUncertain, match="may exist"):
        flaky.submit(sbatch_options(job_name=name), "#!/bin/bash\ntrue\n")
    found = flaky.find_by_name(name)
    assert len(found) == 1
    flaky.close()


def test_no_connection_means_certainly_not_submitted(slurm: LocalSlurm) -> None:
    def refuse():
        raise OSError("connection refused")

    scheduler = SlurmScheduler(ParamikoTransport(refuse))
    with pytest.raises(TransportError) as error:
        scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\ntrue\n")
    assert not isinstance(error.value, SubmissionUncertain)


class Counting:
    """Counts the commands an async transport runs, by program."""

    def __init__(self, inner: AsyncsshTransport) -> None:
        self.inner = inner
        self.commands: list[str] = []

    async def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult:
        self.commands.append(command.split()[2] if command.startswith("env ") else command.split()[0])
        return await self.inner.run(command, stdin=stdin, timeout=timeout)

    async def close(self) -> None:
        await self.inner.close()


def test_many_waiters_share_one_connection_and_one_squeue_per_cycle(
    scheduler: SlurmScheduler, slurm: LocalSlurm
) -> None:
    from beampipe_provider.scheduler.slurm import AsyncSlurmScheduler

    jobs = [scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\ntrue\n", hold=True) for _ in range(30)]
    target = slurm.target()
    transport = Counting(AsyncsshTransport(lambda: asyncssh_connect(target)))

    async def go() -> tuple[list, JobTracker]:
        async def open_source() -> AsyncSlurmScheduler:
            return AsyncSlurmScheduler(transport)

        tracker = JobTracker(open_source, poll_interval=0.5)
        waits = [asyncio.ensure_future(tracker.wait(j.job_id, deadline=time.time() + 120)) for j in jobs]
        await asyncio.sleep(2)
        await asyncio.to_thread(slurm.admin, "scontrol", "release", ",".join(j.job_id for j in jobs))
        return list(await asyncio.gather(*waits)), tracker

    done, tracker = asyncio.run(go())
    assert all(s.phase is Phase.SUCCEEDED for s in done)
    assert transport.inner.connections_opened == 1
    assert tracker.stats.max_tracked == 30
    assert transport.commands.count("squeue") == tracker.stats.cycles  # one per cycle for all 30 jobs
    assert transport.commands.count("sacct") <= tracker.stats.cycles


def _pid(name: str) -> int:
    return int((STATE / "run" / f"{name}.pid").read_text())


def _restart(name: str, down_s: float) -> None:
    os.kill(_pid(name), 15)
    time.sleep(down_s)
    subprocess.run([str(SCRIPT), "up"], check=True, capture_output=True, timeout=120)


def test_a_job_is_tracked_to_the_end_across_a_slurmctld_restart(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job = scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\nsleep 6\necho done\n")
    slurm.wait_state(job.job_id, {"RUNNING"})
    before = _pid("slurmctld")

    async def go() -> tuple:
        tracker = JobTracker(lambda: _async(slurm), poll_interval=0.5, max_backoff=2)
        wait = asyncio.ensure_future(tracker.wait(job.job_id, deadline=time.time() + 120))
        await asyncio.sleep(1)
        await asyncio.to_thread(_restart, "slurmctld", 4)
        return await wait, tracker

    status, _ = asyncio.run(go())
    assert _pid("slurmctld") != before  # a new controller, restored from its saved state
    assert status.phase is Phase.SUCCEEDED
    assert status.exit_code == 0


def test_a_dropped_ssh_connection_is_remade(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job = scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\nsleep 6\n")
    target = slurm.target()
    transport = AsyncsshTransport(lambda: asyncssh_connect(target))

    async def go() -> tuple:
        from beampipe_provider.scheduler.slurm import AsyncSlurmScheduler

        async def open_source() -> AsyncSlurmScheduler:
            return AsyncSlurmScheduler(transport)

        tracker = JobTracker(open_source, poll_interval=0.5, max_backoff=2)
        wait = asyncio.ensure_future(tracker.wait(job.job_id, deadline=time.time() + 120))
        await asyncio.sleep(1)

        def drop_sshd() -> None:  # the listener and every session it forked
            os.kill(_pid("sshd"), 15)
            subprocess.run(["pkill", "-f", f"sshd: {slurm.user}"], check=False)
            time.sleep(3)
            subprocess.run([str(SCRIPT), "up"], check=True, capture_output=True, timeout=120)

        await asyncio.to_thread(drop_sshd)
        return await wait, tracker

    status, tracker = asyncio.run(go())
    assert status.phase is Phase.SUCCEEDED
    assert transport.connections_opened >= 2
    assert tracker.stats.poll_errors >= 1


def test_the_guard_submits_only_under_the_queue_bounds_counting_the_group(
    scheduler: SlurmScheduler, slurm: LocalSlurm
) -> None:
    group = unique("survey")
    # the account may hold 50 jobs, this group a tenth of them: 5
    guard = bounds(Caps(max_submit=50), QueueShare(group=group, share=0.1))
    first = unique()
    options = sbatch_options(job_name=first, comment=tag_comment("beampipe run x", group), output="/dev/null")
    held = [scheduler.submit(options, "#!/bin/sh\nsleep 60\n", hold=True, guard=guard) for _ in range(5)]
    try:
        assert [j.group for j in scheduler.queue() if j.name == first] == [group] * 5
        refused = unique()
        with pytest.raises(QueueFull, match=f"5 of 5 jobs of {group} queued"):
            scheduler.submit(options.model_copy(update={"job_name": refused}), "#!/bin/sh\ntrue\n", guard=guard)
        assert scheduler.find_by_name(refused) == []  # no job: sbatch was never called
        # another survey still has room, and the whole account's bound is counted across groups
        other = bounds(Caps(max_submit=5), QueueShare(group="other"))
        with pytest.raises(QueueFull, match="5 of 5 jobs queued"):
            scheduler.submit(options.model_copy(update={"job_name": refused}), "#!/bin/sh\ntrue\n", guard=other)
    finally:
        scheduler.cancel([j.job_id for j in held])


def test_the_estimate_comes_with_the_job_and_the_script_arrives_whole(
    scheduler: SlurmScheduler, slurm: LocalSlurm
) -> None:
    name = unique()
    options = sbatch_options(job_name=name, output=f"{name}-%j.out", time="5")
    job = scheduler.submit(options, "#!/bin/bash\nprintf 'a\\n\\nb\\n'\n\n\n", estimate=True)
    assert job.estimated_start is not None, job.estimate_note
    assert "to start at" in job.estimate_note
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.SUCCEEDED
    assert scheduler.log_tail(f"{name}-{job.job_id}.out") == "a\n\nb\n"


def test_sbatch_waits_out_a_stopped_slurmctld_within_the_try_and_submits_once(
    scheduler: SlurmScheduler, slurm: LocalSlurm
) -> None:
    # "Unable to contact slurm controller" is an outage, not a refusal: sbatch did nothing, so it is sent again
    # once slurmctld is back, and exactly one job exists.
    name = unique()
    restart = threading.Thread(target=_restart, args=("slurmctld", 8))
    restart.start()
    time.sleep(0.5)  # slurmctld is going down
    try:
        job = scheduler.submit(sbatch_options(job_name=name), "#!/bin/bash\ntrue\n")
    finally:
        restart.join()
    assert job.job_id.isdigit()
    assert [r.job_id for r in scheduler.find_by_name(name)] == [job.job_id]


def test_an_outage_longer_than_the_budget_is_a_typed_transient_error(slurm: LocalSlurm) -> None:
    from beampipe_provider.scheduler.base import SchedulerUnavailable

    scheduler = SlurmScheduler(ParamikoTransport(slurm.connect), outage_budget_s=4, sleep=time.sleep)
    os.kill(_pid("slurmctld"), 15)
    try:
        with pytest.raises(SchedulerUnavailable, match=r"Slurm unreachable for [0-9]+ s"):
            scheduler.submit(sbatch_options(job_name=unique()), "#!/bin/bash\ntrue\n")
    finally:
        subprocess.run([str(SCRIPT), "up"], check=True, capture_output=True, timeout=120)
        scheduler.close()
