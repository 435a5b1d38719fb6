"""SlurmJobOperator in real Airflow runs (`airflow dags test`) on the real local cluster, deferrable and not."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.scheduler.slurm import sbatch_options
from tests.slurm_cluster import LocalSlurm


def staged_run(tmp_path: Path) -> tuple[LedgerStore, str, dict[str, str]]:
    """A ledger with one run, claimed and staged, as the staging task leaves it."""
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate.upgrade(engine)
    store = LedgerStore(engine)
    source = f"HIPASSJ{uuid.uuid4().hex[:6]}"
    store.register_sources("WALLABY", [SourceRecord(source_id=source)])
    store.record_datasets(
        [DatasetRecord(archive="casda", dataset_id=f"cube-{source}", survey="WALLABY", source_id=source)]
    )
    (run_key,) = store.plan_runs("WALLABY", [f"cube-{source}"], workflow="wallaby-hires", workflow_version="1").created
    store.claim_runs("stage", ttl=timedelta(hours=1), run_keys=[run_key])
    store.transition(run_key, expected=RunState.CLAIMED, to=RunState.STAGED, actor="stage")
    env = {
        "AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT": json.dumps(
            {"conn_type": "beampipe_ledger", "schema": str(tmp_path / "ledger.db"), "extra": {"dialect": "sqlite"}}
        )
    }
    return store, run_key, env


def run_dag(airflow_env, slurm: LocalSlurm, conf: dict, *, deferrable: bool, env: dict | None = None, check=True):
    return airflow_env.airflow(
        "dags",
        "test",
        "beampipe_slurm_job",
        "--conf",
        json.dumps(conf),
        check=check,
        env={
            "AIRFLOW_CONN_SLURM_TEST": slurm.airflow_connection(),
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(deferrable),
            **(env or {}),
        },
    )


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_a_run_goes_staged_to_succeeded_and_the_job_output_is_in_the_task_log(
    airflow_env, slurm: LocalSlurm, tmp_path: Path, deferrable: bool
) -> None:
    store, run_key, env = staged_run(tmp_path)
    out = run_dag(
        airflow_env,
        slurm,
        # long enough to be seen RUNNING (a job that ends before the first poll goes SUBMITTED -> SUCCEEDED)
        {"command": "sleep 3; echo $GREETING from job $SLURM_JOB_ID", "run_key": run_key, "greeting": "hi; id"},
        deferrable=deferrable,
        env=env,
    )
    run = store.get_run(run_key)
    assert run.state is RunState.SUCCEEDED
    assert (run.duration_s or 0) >= 3  # from the job's real start (sacct), not from when the task learnt of it
    job_id = run.scheduler_job_id
    assert job_id is not None
    log = out.stdout + out.stderr
    assert f"hi; id from job {job_id}" in log  # the parameter arrived quoted, and the job's output is in the log
    assert ("[DAG TEST] Trigger completed" in log) is deferrable
    # when Slurm expected it to start (sbatch --test-only), in the log and on the ledger's SUBMITTED event
    assert "Slurm expects the job to start at 20" in log
    events = store.run_history(run_key)
    submitted = next(e for e in events if e.to_state is RunState.SUBMITTED)
    estimate = datetime.fromisoformat(submitted.detail["estimated_start"])
    assert abs((estimate - submitted.at).total_seconds()) < 120  # an idle node: at once
    history = [(e.from_state, e.to_state) for e in events]
    assert history[-3:] == [
        (RunState.STAGED, RunState.SUBMITTED),
        (RunState.SUBMITTED, RunState.RUNNING),
        (RunState.RUNNING, RunState.SUCCEEDED),
    ]
    assert [r.split("|")[3] for r in slurm.sacct(job_id)] == [f"bp-{run_key}"]


def test_a_failing_job_fails_the_task_with_its_exit_code_and_output(airflow_env, slurm, tmp_path) -> None:
    store, run_key, env = staged_run(tmp_path)
    out = run_dag(
        airflow_env,
        slurm,
        {"command": "echo about to fail; exit 3", "run_key": run_key},
        deferrable=True,
        env=env,
        check=False,
    )
    log = out.stdout + out.stderr
    assert "FAILED" in log
    assert "(exit code 3)" in log
    assert "about to fail" in log
    run = store.get_run(run_key)
    assert run.state is RunState.FAILED
    assert "exit 3" in (run.last_error or "")


def test_a_job_left_by_a_crashed_attempt_is_adopted_not_submitted_again(airflow_env, slurm, tmp_path) -> None:
    # The worker submitted, then died before it could write the job id anywhere: only Slurm knows the job.
    store, run_key, env = staged_run(tmp_path)
    scheduler = slurm.scheduler()
    orphan = scheduler.submit(
        sbatch_options(job_name=f"bp-{run_key}", comment=f"beampipe run {run_key}", output="bp-e2e-%j.out"),
        "#!/bin/bash\nsleep 2\necho orphan done\n",
    )
    scheduler.close()
    out = run_dag(airflow_env, slurm, {"command": "echo a second job", "run_key": run_key}, deferrable=True, env=env)
    log = out.stdout + out.stderr
    assert f"Slurm job {orphan.job_id} adopted (found by name)" in log
    assert "orphan done" in log
    assert "a second job" not in log
    assert store.get_run(run_key).scheduler_job_id == orphan.job_id
    assert [r.split("|")[0] for r in slurm.sacct_by_name(f"bp-{run_key}")] == [orphan.job_id]  # one job in all


def test_an_uncertain_submission_is_resolved_by_name(airflow_env, slurm, tmp_path) -> None:
    # An earlier attempt lost sbatch's answer: the run is UNCERTAIN and the job exists.
    store, run_key, env = staged_run(tmp_path)
    scheduler = slurm.scheduler()
    job = scheduler.submit(sbatch_options(job_name=f"bp-{run_key}", output="bp-e2e-%j.out"), "#!/bin/bash\ntrue\n")
    scheduler.close()
    store.transition(run_key, expected=RunState.STAGED, to=RunState.UNCERTAIN, actor="lost", error="connection reset")
    out = run_dag(airflow_env, slurm, {"command": "echo never", "run_key": run_key}, deferrable=False, env=env)
    assert f"Slurm job {job.job_id} adopted (was uncertain)" in out.stdout + out.stderr
    run = store.get_run(run_key)
    assert run.state is RunState.SUCCEEDED
    assert run.scheduler_job_id == job.job_id
    assert len(slurm.sacct_by_name(f"bp-{run_key}")) == 1


def test_a_hostile_option_fails_the_task_naming_it_and_submits_nothing(airflow_env, slurm, tmp_path) -> None:
    store, run_key, env = staged_run(tmp_path)
    marker = Path("/tmp", f"beampipe-pwned-{uuid.uuid4().hex}")
    conf = {"command": "true", "run_key": run_key, "partition": f"work; touch {marker}"}
    out = run_dag(airflow_env, slurm, conf, deferrable=False, env=env, check=False)
    assert "partition: not a valid comma-separated list of names" in out.stdout + out.stderr
    assert store.get_run(run_key).state is RunState.STAGED
    assert slurm.sacct_by_name(f"bp-{run_key}") == []
    assert not marker.exists()


def test_a_request_over_the_partitions_max_time_is_refused_before_sbatch(airflow_env, slurm, tmp_path) -> None:
    store, run_key, env = staged_run(tmp_path)
    conf = {"command": "true", "run_key": run_key, "partition": "debug", "time": "01:00:00"}
    out = run_dag(airflow_env, slurm, conf, deferrable=False, env=env, check=False)
    refusal = "time 01:00:00 exceeds partition debug's MaxTime 00:30:00"  # scripts/local-slurm's debug partition
    assert refusal in out.stdout + out.stderr
    run = store.get_run(run_key)
    assert run.state is RunState.FAILED
    assert refusal in (run.last_error or "")
    assert slurm.sacct_by_name(f"bp-{run_key}") == []  # nothing was submitted


def test_a_run_that_finds_the_queue_full_keeps_its_claim_and_is_submitted_once_room_frees(
    airflow_env, slurm: LocalSlurm, tmp_path: Path
) -> None:
    store, run_key, env = staged_run(tmp_path)  # claimed for an hour
    scheduler = slurm.scheduler()
    filler = sbatch_options(job_name=f"bp-filler-{uuid.uuid4().hex[:8]}", output="/dev/null")
    held = [scheduler.submit(filler, "#!/bin/sh\ntrue\n", hold=True).job_id for _ in range(2)]
    slurm.admin("sacctmgr", "-i", "modify", "user", slurm.user, "set", "MaxSubmitJobs=2")
    release = threading.Timer(10, scheduler.cancel, [held])  # room frees 10 s in
    release.start()
    try:
        out = run_dag(airflow_env, slurm, {"command": "true", "run_key": run_key}, deferrable=True, env=env)
    finally:
        release.join()
        slurm.admin("sacctmgr", "-i", "modify", "user", slurm.user, "set", "MaxSubmitJobs=-1")
        scheduler.close()
    log = out.stdout + out.stderr
    assert "Not submitting yet: 2 of 2 jobs queued (MaxSubmitJobs 2)" in log
    assert "sbatch refused" not in log
    run = store.get_run(run_key)
    assert run.state is RunState.SUCCEEDED
    assert run.claim_expires_at is not None
    assert run.claim_expires_at - datetime.now(UTC) > timedelta(hours=12)  # renewed for the wait (a day)


@pytest.mark.parametrize(("time", "partition"), [("00:10:00", "debug"), ("01:00:00", "work")])
def test_the_first_candidate_partition_that_fits_takes_the_job(airflow_env, slurm, tmp_path, time, partition) -> None:
    store, run_key, env = staged_run(tmp_path)
    conf = {"command": "true", "run_key": run_key, "partition": "debug,work", "time": time}
    run_dag(airflow_env, slurm, conf, deferrable=False, env=env)
    run = store.get_run(run_key)
    assert run.state is RunState.SUCCEEDED
    (job,) = slurm.sacct(run.scheduler_job_id or "")
    assert job.split("|")[4] == partition  # debug's MaxTime is 30 minutes


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])
def test_execution_timeout_cancels_the_job(airflow_env, slurm: LocalSlurm, tmp_path: Path, deferrable: bool) -> None:
    store, run_key, env = staged_run(tmp_path)
    airflow_env.airflow(
        "dags",
        "test",
        "beampipe_slurm_timeout",
        "--conf",
        json.dumps({"run_key": run_key}),
        check=False,
        env={
            "AIRFLOW_CONN_SLURM_TEST": slurm.airflow_connection(),
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(deferrable),
            **env,
        },
    )
    run = store.get_run(run_key)
    assert run.state is RunState.CANCELLED
    (row,) = slurm.sacct(run.scheduler_job_id or "")
    assert row.split("|")[1].startswith("CANCELLED")
