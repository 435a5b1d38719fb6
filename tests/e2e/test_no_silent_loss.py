"""Nothing waits for ever, and a kill never rewrites history (real `airflow dags test` runs, the local cluster)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from beampipe_provider.ledger.states import RunState
from tests.e2e.test_slurm_operator import staged_run
from tests.slurm_cluster import LocalSlurm


def test_a_connection_stored_in_airflows_database_works_for_the_deferred_trigger(airflow_env, slurm, tmp_path) -> None:
    # As a user does it: `airflow connections add`, no AIRFLOW_CONN_* variable. The trigger that `dags test` runs
    # inline used to find no such connection, poll for ever and hang the command.
    store, run_key, env = staged_run(tmp_path)
    airflow_env.airflow("connections", "delete", "slurm_test", check=False)
    airflow_env.airflow("connections", "add", "slurm_test", "--conn-json", slurm.airflow_connection())
    try:
        out = airflow_env.airflow(
            "dags",
            "test",
            "beampipe_slurm_job",
            "--conf",
            json.dumps({"command": "sleep 2; echo from the database", "run_key": run_key}),
            env={"AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True", **env},
        )
    finally:
        airflow_env.airflow("connections", "delete", "slurm_test", check=False)
    log = out.stdout + out.stderr
    assert "[DAG TEST] Trigger completed" in log
    assert "isn't defined" not in log
    assert store.get_run(run_key).state is RunState.SUCCEEDED


def _start(airflow_env, slurm: LocalSlurm, env: dict, conf: dict) -> subprocess.Popen[str]:
    return airflow_env.popen(
        "dags",
        "test",
        "beampipe_slurm_kill",
        "--conf",
        json.dumps(conf),
        env={"AIRFLOW_CONN_SLURM_TEST": slurm.airflow_connection(), **env},
    )


def _until(task: subprocess.Popen[str], text: str, seconds: float = 120) -> list[str]:
    lines: list[str] = []
    end = time.monotonic() + seconds
    assert task.stdout is not None
    for line in task.stdout:
        lines.append(line)
        if text in line or time.monotonic() > end:
            break
    assert any(text in line for line in lines), "".join(lines[-40:])
    return lines


def _stop(task: subprocess.Popen[str]) -> float:
    """SIGTERM, as a supervisor or a user stops it; the seconds until the process exited."""
    started = time.monotonic()
    task.send_signal(signal.SIGTERM)
    try:
        task.wait(30)
    except subprocess.TimeoutExpired:
        task.kill()
        task.wait()
    return time.monotonic() - started


def test_a_kill_after_the_job_ended_records_its_real_end_and_cancels_nothing(airflow_env, slurm, tmp_path) -> None:
    store, run_key, env = staged_run(tmp_path)
    task = _start(airflow_env, slurm, env, {"command": "sleep 2; echo finished", "run_key": run_key})
    _until(task, "(name bp-")  # submitted; the next poll is two minutes away
    job_id = store.get_run(run_key).scheduler_job_id or ""
    slurm.wait_state(job_id, {"COMPLETED"}, timeout=60)
    took = _stop(task)
    run = store.get_run(run_key)
    assert run.state is RunState.SUCCEEDED  # what Slurm says happened, not CANCELLED
    assert [r.split("|")[1] for r in slurm.sacct(job_id)] == ["COMPLETED"]
    assert took < 10  # the task ends on SIGTERM within seconds


def test_a_kill_while_the_job_runs_cancels_it_and_says_so(airflow_env, slurm, tmp_path) -> None:
    store, run_key, env = staged_run(tmp_path)
    task = _start(airflow_env, slurm, env, {"command": "sleep 120", "run_key": run_key})
    _until(task, "(name bp-")
    job_id = store.get_run(run_key).scheduler_job_id or ""
    slurm.wait_state(job_id, {"RUNNING"}, timeout=60)
    took = _stop(task)
    assert slurm.wait_state(job_id, {"CANCELLED"}, timeout=30) == "CANCELLED"
    run = store.get_run(run_key)
    assert run.state is RunState.CANCELLED
    assert f"was killed; Slurm job {job_id} cancelled" in (run.last_error or "")
    assert took < 10
