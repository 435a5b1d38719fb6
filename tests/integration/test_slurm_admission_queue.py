"""The shared admission queue against the real local cluster's squeue: a survey whose share is full waits while
another goes ahead, and is let in as soon as one of its jobs leaves the queue."""

from __future__ import annotations

import asyncio
import time
import uuid

from beampipe_provider.scheduler.admission import AdmissionQueue, QueueShare, tag_comment
from beampipe_provider.scheduler.slurm import sbatch_options
from tests.slurm_cluster import LocalSlurm


def test_a_full_share_waits_until_one_of_its_jobs_leaves_while_another_survey_goes_ahead(slurm: LocalSlurm) -> None:
    scheduler = slurm.scheduler()
    group = f"survey-{uuid.uuid4().hex[:8]}"
    mine = QueueShare(cap=50, group=group, share=0.04)  # two of the fifty
    options = sbatch_options(job_name=f"bp-{group}", comment=tag_comment("beampipe run x", group), output="/dev/null")
    held = [scheduler.submit(options, "#!/bin/sh\nsleep 60\n", hold=True).job_id for _ in range(2)]

    async def source():
        return slurm.async_scheduler()

    async def scenario() -> tuple[list[str], float]:
        queue = AdmissionQueue(source, poll_interval=0.5)
        order: list[str] = []

        async def wait(name: str, want: QueueShare) -> None:
            await queue.wait(name, want, deadline=time.time() + 60)
            order.append(name)

        same = asyncio.ensure_future(wait("same-survey", mine))
        other = asyncio.ensure_future(wait("other-survey", QueueShare(cap=50, group="another", share=0.04)))
        await other
        await asyncio.sleep(2)  # several poll cycles: the full share stays shut
        assert not same.done()
        scheduler.cancel(held[:1])
        cancelled = time.monotonic()
        await same
        return order, time.monotonic() - cancelled

    try:
        order, after = asyncio.run(scenario())
    finally:
        scheduler.cancel(held)
        scheduler.close()
    assert order == ["other-survey", "same-survey"]
    assert after < 10  # let in within a few poll cycles of the slot freeing
