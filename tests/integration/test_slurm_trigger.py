"""SlurmJobTrigger and SlurmHook against the real cluster: events, triggerer restarts, kills, deadlines, host keys."""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid

import pytest

from beampipe_provider.hooks.slurm import SlurmHook
from beampipe_provider.scheduler.base import TransportError
from beampipe_provider.scheduler.slurm import SlurmScheduler, sbatch_options
from beampipe_provider.triggers.slurm import SlurmJobTrigger
from tests.slurm_cluster import LocalSlurm

CONN = "slurm_test"


@pytest.fixture
def scheduler(slurm: LocalSlurm, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", slurm.airflow_connection())
    scheduler = slurm.scheduler()
    yield scheduler
    scheduler.close()


def submit(scheduler: SlurmScheduler, body: str) -> str:
    return scheduler.submit(sbatch_options(job_name=f"bp-trig-{uuid.uuid4().hex[:8]}"), f"#!/bin/bash\n{body}\n").job_id


async def first_event(trigger: SlurmJobTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


def test_success_and_failure_events(scheduler: SlurmScheduler) -> None:
    ok, bad = submit(scheduler, "true"), submit(scheduler, "exit 3")
    event = asyncio.run(first_event(SlurmJobTrigger(job_ids=[ok], ssh_conn_id=CONN, poll_interval=0.5)))
    assert event["status"] == "success"
    assert event["jobs"][0]["state"] == "COMPLETED"
    event = asyncio.run(first_event(SlurmJobTrigger(job_ids=[ok, bad], ssh_conn_id=CONN, poll_interval=0.5)))
    assert event["status"] == "failed"
    assert f"job {bad} FAILED (exit 3)" in event["message"]


def test_a_recreated_trigger_picks_up_the_running_job(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job_id = submit(scheduler, "sleep 5")
    trigger = SlurmJobTrigger(job_ids=[job_id], ssh_conn_id=CONN, poll_interval=0.5, deadline=time.time() + 120)

    async def restart_mid_job() -> dict:
        running = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(2)
        running.cancel()  # the triggerer stops: the trigger is cancelled, then cleanup() runs
        with pytest.raises(asyncio.CancelledError):
            await running
        await trigger.cleanup()
        classpath, kwargs = trigger.serialize()
        module, name = classpath.rsplit(".", 1)
        again = getattr(importlib.import_module(module), name)(**kwargs)  # as another triggerer rebuilds it
        return await first_event(again)

    assert slurm.wait_state(job_id, {"RUNNING"}) == "RUNNING"
    event = asyncio.run(restart_mid_job())
    assert event["status"] == "success"
    assert [row.split("|")[1] for row in slurm.sacct(job_id)] == ["COMPLETED"]  # not cancelled by the restart


def test_on_kill_cancels_the_job(scheduler: SlurmScheduler, slurm: LocalSlurm) -> None:
    job_id = submit(scheduler, "sleep 120")
    slurm.wait_state(job_id, {"RUNNING"})
    asyncio.run(SlurmJobTrigger(job_ids=[job_id], ssh_conn_id=CONN).on_kill())
    assert slurm.wait_state(job_id, {"CANCELLED"}) == "CANCELLED"


def test_the_deadline_ends_the_wait_with_timeout(scheduler: SlurmScheduler) -> None:
    job_id = submit(scheduler, "sleep 30")
    trigger = SlurmJobTrigger(job_ids=[job_id], ssh_conn_id=CONN, poll_interval=0.5, deadline=time.time() + 2)
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "timeout"
    scheduler.cancel([job_id])


def test_the_trigger_serialises_to_json_only() -> None:
    import json

    _, kwargs = SlurmJobTrigger(job_ids=["1"], ssh_conn_id=CONN, clusters="setonix", deadline=1.5).serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_a_wrong_host_key_is_refused_sync_and_async(slurm: LocalSlurm, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    conn = json.loads(slurm.airflow_connection())
    # a valid key that is not this server's
    conn["extra"]["host_key"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGYpQ1qeNPOO3CbnQ8L8vT0tYyyPjc7Sp8uHh0Q3tR5w"
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_IMPOSTOR", json.dumps(conn))
    hook = SlurmHook(ssh_conn_id="slurm_impostor")
    with pytest.raises(TransportError):
        hook.get_scheduler().status(["1"])

    async def go() -> None:
        scheduler = await hook.aget_scheduler()
        await scheduler.status(["1"])

    with pytest.raises(TransportError):
        asyncio.run(go())


def test_hook_test_connection(slurm: LocalSlurm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", slurm.airflow_connection())
    assert SlurmHook(ssh_conn_id=CONN).test_connection() == (True, "squeue and sacct answered")


def test_a_poll_loop_that_cannot_work_ends_every_wait_with_the_cause_instead_of_hanging(scheduler) -> None:
    # A connection the triggerer cannot find (AirflowNotFoundException, not a SchedulerError) used to kill the
    # shared poll loop and leave every waiter awaiting a future no one would set.
    job_id = submit(scheduler, "sleep 30")
    trigger = SlurmJobTrigger(job_ids=[job_id], ssh_conn_id="no_such_conn", poll_interval=0.2, stall_after=2)
    started = time.monotonic()
    event = asyncio.run(asyncio.wait_for(first_event(trigger), 30))
    assert event["status"] == "error"
    assert "no poll of Slurm succeeded for 2 s" in event["message"]
    assert "no_such_conn" in event["message"]  # the cause, named
    assert time.monotonic() - started < 20
    scheduler.cancel([job_id])


def test_an_admission_wait_that_cannot_read_the_queue_ends_with_the_cause() -> None:
    from beampipe_provider.triggers.slurm import SlurmAdmissionTrigger

    trigger = SlurmAdmissionTrigger(job_name="bp-x", ssh_conn_id="no_such_conn", poll_interval=0.2, stall_after=1)
    event = asyncio.run(asyncio.wait_for(first_event(trigger), 30))
    assert event["status"] == "error"
    assert "no read of the queue succeeded for 1 s" in event["message"]
    assert "no_such_conn" in event["message"]
