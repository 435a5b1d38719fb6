"""RunLifecycle on both databases: every write is compare-and-set on the state the caller decided from."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beampipe_provider.ledger.errors import StaleState
from beampipe_provider.ledger.states import RunState
from beampipe_provider.runs.lifecycle import RunLifecycle
from beampipe_provider.scheduler.base import JobStatus, Phase
from tests.integration.test_ledger_store import planned_run


def staged(store) -> str:
    run_key = planned_run(store)
    store.claim_runs("stage", ttl=timedelta(hours=1), run_keys=[run_key])
    store.transition(run_key, expected=RunState.CLAIMED, to=RunState.STAGED, actor="stage")
    return run_key


def test_a_write_from_a_stale_snapshot_changes_nothing(store):
    run_key = staged(store)
    lifecycle = RunLifecycle(store, run_key, "dag/run/process/0")
    seen = lifecycle.current()  # the task decides to submit from STAGED...
    store.transition(run_key, expected=RunState.STAGED, to=RunState.FAILED, actor="operator", error="stopped by hand")
    with pytest.raises(StaleState, match="is FAILED"):  # ...but someone failed the run in between
        lifecycle.submitted(seen, "123", "setonix", {"how": "submitted"})
    run = store.get_run(run_key)
    assert (run.state, run.scheduler_job_id, run.cluster) == (RunState.FAILED, None, None)
    assert [e.to_state for e in store.run_history(run_key)][-1] is RunState.FAILED


def test_submitted_records_the_job_and_its_cluster_beside_the_facility_profile(store):
    run_key = staged(store)
    lifecycle = RunLifecycle(store, run_key, "dag/run/process/0")
    run = lifecycle.submitted(lifecycle.current(), "123", "beampipe", {"how": "submitted"})
    assert (run.state, run.scheduler_job_id, run.cluster) == (RunState.SUBMITTED, "123", "beampipe")
    assert run.facility is None  # planning's facility profile is never overwritten by the cluster
    ended = JobStatus(job_id="123", phase=Phase.SUCCEEDED, state="COMPLETED", exit_code=0, started=run.created_at)
    done = lifecycle.ended(run, ended, RunState.SUCCEEDED, None)
    assert done.state is RunState.SUCCEEDED
    assert [e.to_state for e in store.run_history(run_key)][-2:] == [RunState.RUNNING, RunState.SUCCEEDED]


def test_requeue_puts_an_ended_run_back_claimed_by_the_retrying_task(store):
    run_key = staged(store)
    lifecycle = RunLifecycle(store, run_key, "dag/run/process/0")
    run = lifecycle.submitted(lifecycle.current(), "123", None, {})
    run = lifecycle.ended(run, JobStatus(job_id="123", phase=Phase.FAILED, state="FAILED"), RunState.FAILED, "x")
    again = lifecycle.requeue(run, claim_ttl=timedelta(hours=1))
    assert (again.state, again.claimed_by, again.attempt) == (RunState.CLAIMED, "dag/run/process/0", 2)
