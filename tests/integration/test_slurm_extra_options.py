"""`extra` sbatch options on the real local cluster: a flag reaches sbatch in the form it accepts, and an
abbreviation sbatch would expand (`--jo` is `--job-name`) is refused before sbatch ever runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from beampipe_provider.scheduler.base import InvalidJobOption, Phase
from beampipe_provider.scheduler.slurm import SlurmScheduler, sbatch_options
from tests.integration.test_slurm_scheduler import track
from tests.slurm_cluster import LocalSlurm


@pytest.fixture
def scheduler(slurm: LocalSlurm) -> Iterator[SlurmScheduler]:
    scheduler = slurm.scheduler()
    yield scheduler
    scheduler.close()


def test_exclusive_as_a_flag_submits_and_runs(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    name = f"bp-excl-{uuid.uuid4().hex[:12]}"
    options = sbatch_options(job_name=name, output="/dev/null", time="5", extra={"exclusive": True, "no-requeue": True})
    job = scheduler.submit(options, "#!/bin/bash\ntrue\n")
    (status,) = track(slurm, [job.job_id])
    assert status.phase is Phase.SUCCEEDED


def test_an_abbreviated_option_is_refused_before_sbatch(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    name = f"bp-abbr-{uuid.uuid4().hex[:12]}"
    with pytest.raises(InvalidJobOption, match="extra"):
        scheduler.submit(sbatch_options(job_name=name, extra={"jo": "renamed"}), "#!/bin/bash\ntrue\n")
    assert scheduler.find_by_name(name) == []
    assert scheduler.find_by_name("renamed") == []
