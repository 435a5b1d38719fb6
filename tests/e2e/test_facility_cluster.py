"""A facility profile that names its Slurm cluster, as Setonix's does: the run keeps the profile's name in
`facility` and the job's cluster in `cluster`; a retried task adopts the job from the ledger on that cluster, and
killing the task really cancels it there (`scancel --clusters=...`)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import yaml

from beampipe_provider.ledger.states import RunState
from beampipe_provider.scheduler.slurm import sbatch_options
from beampipe_provider.workflow.facility import load_facility
from tests.e2e.test_slurm_operator import staged_run
from tests.slurm_cluster import LocalSlurm


def clustered_profile(tmp_path: Path, slurm: LocalSlurm) -> Path:
    profile = load_facility("local").model_dump(mode="json", exclude_none=True)
    profile.update(name="clustered")
    profile["sbatch"] = {**profile["sbatch"], "clusters": slurm.cluster}
    path = tmp_path / "clustered.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def test_a_retry_adopts_the_job_on_its_cluster_and_a_kill_cancels_it_there(airflow_env, slurm, tmp_path) -> None:
    store, run_key, env = staged_run(tmp_path)
    profile = clustered_profile(tmp_path, slurm)
    # The first attempt submitted on the profile's cluster and recorded it, then its worker died.
    scheduler = slurm.scheduler()
    options = sbatch_options(
        job_name=f"bp-{run_key}", comment=f"beampipe run {run_key}", clusters=slurm.cluster, output="/dev/null"
    )
    job = scheduler.submit(options, "#!/bin/bash\nsleep 300\n")
    scheduler.close()
    assert job.cluster == slurm.cluster  # sbatch --parsable answered `id;cluster`
    store.transition(
        run_key,
        expected=RunState.STAGED,
        to=RunState.SUBMITTED,
        actor="first attempt",
        facility="clustered",
        cluster=job.cluster,
        scheduler_job_id=job.job_id,
    )
    slurm.wait_state(job.job_id, {"RUNNING"})

    conf = {"run_key": run_key, "facility": str(profile), "datasets": [{"dataset_id": "d", "path": "/dev/null"}]}
    task = airflow_env.popen(
        "dags",
        "test",
        "beampipe_clustered_run",
        "--conf",
        json.dumps(conf),
        env={"AIRFLOW_CONN_SLURM_TEST": slurm.airflow_connection(), **env},
    )
    log: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert task.stdout is not None
        for line in task.stdout:
            log.append(line)
            if f"Slurm job {job.job_id} adopted (ledger)" in line or time.monotonic() > deadline:
                break
        assert any(f"Slurm job {job.job_id} adopted (ledger)" in line for line in log), "".join(log[-40:])
        time.sleep(2)  # polling the adopted job
        task.send_signal(signal.SIGTERM)  # the task is killed: on_kill must cancel the job on its cluster
        state = slurm.wait_state(job.job_id, {"CANCELLED", "COMPLETED", "FAILED"}, timeout=60)
    finally:
        try:
            task.wait(30)
        except subprocess.TimeoutExpired:
            task.kill()
            task.wait()
        slurm.admin("scancel", f"--clusters={slurm.cluster}", job.job_id)
    assert state == "CANCELLED"
    run = store.get_run(run_key)
    assert (run.state, run.facility, run.cluster) == (RunState.CANCELLED, "clustered", slurm.cluster)
