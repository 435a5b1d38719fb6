"""How many jobs an account and a survey may keep queued, and why one more must wait: pure rules."""

from __future__ import annotations

import pytest

from beampipe_provider.scheduler.admission import (
    Caps,
    QueuedJob,
    QueueShare,
    bounds,
    full_because,
    group_of,
    safe_group,
    tag_comment,
)


def jobs(*groups: str | None) -> list[QueuedJob]:
    return [QueuedJob(str(i), f"bp-{i}", "PENDING", g) for i, g in enumerate(groups)]


def test_the_bound_is_the_tightest_of_max_submit_twice_max_jobs_and_the_facility_cap() -> None:
    assert bounds(Caps(max_submit=20), QueueShare()).total == 20
    assert bounds(Caps(max_submit=20, max_jobs=4), QueueShare()).total == 8
    limit = bounds(Caps(max_submit=20, max_jobs=4), QueueShare(cap=5))
    assert (limit.total, limit.why) == (5, "the facility's max_queued 5")
    assert bounds(Caps(), QueueShare()).unbounded


def test_a_survey_may_fill_only_its_share_of_the_bound() -> None:
    limit = bounds(Caps(max_submit=10), QueueShare(group="wallaby", share=0.3))
    assert (limit.total, limit.group_total) == (10, 3)
    # two of wallaby's and one other: wallaby still has room, until its third
    assert full_because(limit, jobs("wallaby", "wallaby", "dingo")) is None
    assert (
        full_because(limit, jobs("wallaby", "wallaby", "wallaby")) == "3 of 3 jobs of wallaby queued (its share of 10)"
    )
    # a tiny share still lets one job through
    assert bounds(Caps(max_submit=2), QueueShare(group="x", share=0.1)).group_total == 1


def test_the_account_bound_counts_every_job_and_slots_already_granted() -> None:
    limit = bounds(Caps(max_submit=3), QueueShare(group="wallaby"))
    assert full_because(limit, jobs(None, "dingo")) is None
    assert full_because(limit, jobs(None, "dingo"), held=1) == "3 of 3 jobs queued (MaxSubmitJobs 3)"
    assert full_because(bounds(Caps(), QueueShare()), jobs(*["x"] * 1000)) is None


def test_the_group_travels_in_the_jobs_comment() -> None:
    assert group_of(tag_comment("beampipe run abc", "wallaby_hires")) == "wallaby_hires"
    assert group_of("beampipe run abc") is None
    assert group_of("(null)") is None
    assert safe_group("WALLABY hi-res/2") == "WALLABY_hi-res_2"


@pytest.mark.parametrize(("cap", "share"), [(0, 1.0), (None, 0.0), (None, 1.5)])
def test_a_bad_cap_or_share_is_refused_naming_it(cap: int | None, share: float) -> None:
    with pytest.raises(ValueError, match=r"max_queued|share"):
        QueueShare(cap=cap, share=share)


def test_on_a_multi_cluster_site_the_guard_counts_and_submits_on_the_named_cluster() -> None:
    from beampipe_provider.common.sansio import advance
    from beampipe_provider.scheduler.slurm import sbatch_options
    from beampipe_provider.scheduler.slurm.steps import submit
    from beampipe_provider.scheduler.transport import CommandResult

    options = sbatch_options(job_name="bp-x", clusters="setonix", comment=tag_comment("beampipe run x", "wallaby"))
    steps = submit(options, "#!/bin/sh\n", guard=bounds(Caps(max_submit=20), QueueShare(group="wallaby", share=0.5)))
    command = advance(steps, None)
    argv = command.argv  # type: ignore[union-attr]
    assert argv[:4] == ["flock", "-w", "120", ".beampipe-submit.lock"]
    assert argv[8:12] == ["--clusters=setonix", "wallaby", "20", "10"]  # squeue on that cluster; bounds
    assert "--clusters=setonix" in argv[12:]
    assert argv[12] == "sbatch"
    # `sbatch --parsable` on a federation answers `id;cluster`
    done = advance(steps, CommandResult(command.line, 0, "4242;setonix\n", ""))  # type: ignore[union-attr]
    assert done.value.job_id == "4242"
    assert done.value.cluster == "setonix"
