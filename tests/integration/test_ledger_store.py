"""LedgerStore against real SQLite and a fresh real PostgreSQL database (every test runs on both)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from beampipe_provider.ledger.errors import StaleState, UnknownDatasets, UnknownRun, UnknownSources
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.states import IllegalTransition, RunState
from beampipe_provider.ledger.store import all_pages

S = RunState
TTL = timedelta(minutes=5)
PLAN = dict(workflow="wallaby-hires", workflow_version="1.0", parameters={"robust": 0.5})


def dataset(i: int, source: str | None = "HIPASSJ1303+07", **fields) -> DatasetRecord:
    return DatasetRecord(
        dataset_id=f"visibility-{i}",
        survey="WALLABY",
        source_id=source,
        sbid=33681,
        filename=f"{source}_A_beam{i:02d}_10arc_split.ms.tar",
        size=1000 + i,
        access_url=f"https://casda.example/datalink?ID=visibility-{i}",
        **fields,
    )


def register(store, *ids: str, enabled: bool = True):
    return store.register_sources("WALLABY", [SourceRecord(source_id=i, enabled=enabled) for i in ids])


def planned_run(store, source="HIPASSJ1303+07", n=2):
    register(store, source)
    records = [dataset(i, source) for i in range(n)]
    store.record_datasets(records)
    (key,) = store.plan_runs("WALLABY", [r.dataset_id for r in records], **PLAN).created
    return key


# -- sources ---------------------------------------------------------------------------------------------------


def test_registering_twice_creates_once_and_never_re_enables(store):
    assert register(store, "NGC5260", "LEDA803356").created == ["LEDA803356", "NGC5260"]
    store.set_enabled("WALLABY", ["NGC5260"], False)
    again = register(store, "NGC5260", "ESO509-G040")
    assert (again.created, again.existing) == (["ESO509-G040"], ["NGC5260"])
    assert store.get_source("WALLABY", "NGC5260").enabled is False


def test_enabling_an_unknown_source_changes_nothing(store):
    register(store, "NGC5260", enabled=False)
    with pytest.raises(UnknownSources, match="not registered in survey WALLABY: NOPE; nothing changed"):
        store.set_enabled("WALLABY", ["NGC5260", "NOPE"], True)
    assert store.get_source("WALLABY", "NGC5260").enabled is False
    assert store.set_enabled("WALLABY", ["NGC5260"], True) == 1
    assert store.set_enabled("WALLABY", ["NGC5260"], True) == 0


def test_sources_are_listed_by_survey_search_and_page(store):
    register(store, *(f"HIPASSJ13{i:02d}-12" for i in range(5)), "NGC5260")
    store.register_sources("DINGO", [SourceRecord(source_id="NGC5260")])
    first = store.list_sources("WALLABY", limit=4)
    rest = store.list_sources("WALLABY", limit=4, after=first.next_after)
    assert (len(first.items), len(rest.items), rest.next_after) == (4, 2, None)
    assert [s.source_id for s in store.list_sources(search="ngc").items] == ["NGC5260", "NGC5260"]
    assert [s.source_id for s in store.list_sources("WALLABY", search="%").items] == []  # LIKE wildcards are literal


# -- datasets --------------------------------------------------------------------------------------------------


def test_record_reports_new_then_unchanged_then_changed(store, clock):
    records = [dataset(i) for i in range(3)]
    assert store.record_datasets(records).new == ["visibility-0", "visibility-1", "visibility-2"]
    clock.advance(minutes=1)
    moved = [r.model_copy(update={"access_url": "https://new/url", "quality": "GOOD"}) for r in records]
    again = store.record_datasets(moved)
    assert (again.new, again.changed, again.unchanged) == ([], [], ["visibility-0", "visibility-1", "visibility-2"])
    redeposited = records[1].model_copy(update={"size": 99})
    assert store.record_datasets([redeposited]).changed == ["visibility-1"]
    assert store.record_datasets([redeposited]).unchanged == ["visibility-1"]
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT access_url, revision, first_seen < last_seen FROM beampipe_datasets "
                "WHERE dataset_id = 'visibility-0'"
            )
        ).one()
    assert row == ("https://new/url", 1, True)


# -- planning --------------------------------------------------------------------------------------------------


def test_plan_makes_runs_only_for_registered_enabled_sources_and_reports_the_rest(store):
    register(store, "HIPASSJ1303+07", "HIPASSJ1318-21")
    register(store, "NGC5260", enabled=False)
    records = [
        dataset(1),
        dataset(2),
        dataset(3, "HIPASSJ1318-21"),
        dataset(4, "NGC5260"),
        dataset(5, "UNKNOWN1"),
        dataset(6, None),
    ]
    store.record_datasets(records)
    plan = store.plan_runs("WALLABY", [r.dataset_id for r in records], **PLAN)
    assert (len(plan.created), plan.existing) == (2, [])
    assert plan.disabled_source == ["visibility-4"]
    assert plan.unknown_source == ["visibility-5"]
    assert plan.no_source == ["visibility-6"]
    by_source = {store.get_run(k).source_id: k for k in plan.created}
    linked = store.run_datasets(by_source["HIPASSJ1303+07"])
    assert [d.dataset_id for d in linked] == ["visibility-1", "visibility-2"]
    assert linked[0] == records[0]  # the record as it was recorded
    again = store.plan_runs("WALLABY", [r.dataset_id for r in reversed(records)], **PLAN)
    assert (again.created, sorted(again.existing)) == ([], sorted(plan.created))
    history = store.run_history(by_source["HIPASSJ1318-21"])
    assert [(e.from_state, e.to_state, e.actor) for e in history] == [(None, S.DISCOVERED, "planner")]


def test_plan_refuses_datasets_that_were_never_recorded(store):
    register(store, "HIPASSJ1303+07")
    store.record_datasets([dataset(1)])
    with pytest.raises(UnknownDatasets, match="visibility-2; record datasets before planning"):
        store.plan_runs("WALLABY", ["visibility-1", "visibility-2"], **PLAN)
    assert store.list_runs().items == []


def test_other_parameters_make_another_run(store):
    key = planned_run(store)
    other = store.plan_runs("WALLABY", ["visibility-0", "visibility-1"], **(PLAN | {"parameters": {"robust": 0}}))
    assert len(other.created) == 1
    assert other.created[0] != key


# -- claims ----------------------------------------------------------------------------------------------------


def test_a_run_is_claimed_once_until_its_claim_expires(store, clock):
    key = planned_run(store)
    (run,) = store.claim_runs("worker-a", ttl=TTL)
    assert (run.run_key, run.state, run.claimed_by, run.attempt) == (key, S.CLAIMED, "worker-a", 1)
    assert store.claim_runs("worker-b", ttl=TTL) == []
    clock.advance(minutes=4)
    store.renew_claim(key, "worker-a", ttl=TTL)
    clock.advance(minutes=4)
    assert store.claim_runs("worker-b", ttl=TTL) == []  # renewed: still held
    clock.advance(minutes=2)
    (again,) = store.claim_runs("worker-b", ttl=TTL)
    assert (again.claimed_by, again.attempt) == ("worker-b", 2)
    with pytest.raises(StaleState, match="claimed by 'worker-b'"):
        store.renew_claim(key, "worker-a", ttl=TTL)
    last = store.run_history(key)[-1]
    assert (last.from_state, last.to_state, last.actor, last.detail["reclaimed_from"]) == (
        S.CLAIMED,
        S.CLAIMED,
        "worker-b",
        "worker-a",
    )


def test_expired_staged_run_is_reclaimed_but_a_submitted_one_never_is(store, clock):
    staged = planned_run(store, "HIPASSJ1303+07")
    submitted = planned_run(store, "HIPASSJ1318-21")
    store.claim_runs("a", ttl=TTL)
    store.transition(staged, expected=S.CLAIMED, to=S.STAGED, actor="a")
    store.transition(submitted, expected=S.CLAIMED, to=S.SUBMITTED, actor="a", scheduler_job_id="42")
    clock.advance(hours=1)
    assert [r.run_key for r in store.claim_runs("b", ttl=TTL)] == [staged]


def test_claim_by_key_and_survey(store):
    first = planned_run(store, "HIPASSJ1303+07")
    second = planned_run(store, "HIPASSJ1318-21")
    assert [r.run_key for r in store.claim_runs("a", ttl=TTL, run_keys=[second])] == [second]
    assert store.claim_runs("a", ttl=TTL, survey="DINGO") == []
    assert [r.run_key for r in store.claim_runs("a", ttl=TTL, survey="WALLABY")] == [first]


# -- transitions -----------------------------------------------------------------------------------------------


def test_transition_is_compare_and_set_and_writes_one_event(store):
    key = planned_run(store)
    store.claim_runs("a", ttl=TTL)
    run = store.transition(
        key,
        expected=S.CLAIMED,
        to=S.SUBMITTED,
        actor="a",
        claimant="a",
        scheduler="slurm",
        facility="setonix",
        scheduler_job_id="1234;setonix",
    )
    assert (run.state, run.scheduler_job_id, run.submitted_at is not None) == (S.SUBMITTED, "1234;setonix", True)
    with pytest.raises(StaleState, match=f"run {key} is SUBMITTED.*not CLAIMED as expected; nothing changed"):
        store.transition(key, expected=S.CLAIMED, to=S.STAGED, actor="b")
    store.transition(key, expected=S.SUBMITTED, to=S.RUNNING, actor="a")
    done = store.transition(key, expected=S.RUNNING, to=S.FAILED, actor="a", error="exit 3")
    assert (done.last_error, done.finished_at is not None) == ("exit 3", True)
    assert [(e.from_state, e.to_state) for e in store.run_history(key)] == [
        (None, S.DISCOVERED),
        (S.DISCOVERED, S.CLAIMED),
        (S.CLAIMED, S.SUBMITTED),
        (S.SUBMITTED, S.RUNNING),
        (S.RUNNING, S.FAILED),
    ]
    assert store.run_history(key)[2].detail == {"scheduler_job_id": "1234;setonix"}
    assert store.find_run_by_job("1234;setonix", scheduler="slurm").run_key == key
    assert store.find_run_by_job("1234;setonix", scheduler="pbs") is None


def test_illegal_transition_and_unknown_run_change_nothing(store):
    key = planned_run(store)
    with pytest.raises(IllegalTransition):
        store.transition(key, expected=S.DISCOVERED, to=S.SUCCEEDED, actor="x")
    with pytest.raises(UnknownRun):
        store.transition("0" * 64, expected=S.DISCOVERED, to=S.CLAIMED, actor="x")
    assert store.get_run(key).state is S.DISCOVERED
    assert len(store.run_history(key)) == 1


def test_only_the_claimant_moves_a_claimed_run(store):
    key = planned_run(store)
    store.claim_runs("a", ttl=TTL)
    with pytest.raises(StaleState, match="claimed by 'a'"):
        store.transition(key, expected=S.CLAIMED, to=S.STAGED, actor="b", claimant="b")
    assert store.get_run(key).state is S.CLAIMED


def test_requeue_clears_the_claim_and_counts_a_new_attempt(store):
    key = planned_run(store)
    store.claim_runs("a", ttl=TTL)
    store.transition(key, expected=S.CLAIMED, to=S.FAILED, actor="a", error="staging failed")
    requeued = store.transition(key, expected=S.FAILED, to=S.DISCOVERED, actor="operator")
    assert (requeued.claimed_by, requeued.last_error, requeued.finished_at) == (None, None, None)
    assert store.claim_runs("b", ttl=TTL)[0].attempt == 2


def test_run_events_are_append_only_in_the_database(store):
    key = planned_run(store)
    for statement in ("UPDATE beampipe_run_events SET actor = 'forger'", "DELETE FROM beampipe_run_events"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert store.run_history(key)[0].actor == "planner"


def test_runs_list_filters_and_pages(store):
    keys = [planned_run(store, f"HIPASSJ13{i:02d}-12") for i in range(5)]
    store.claim_runs("a", ttl=TTL, run_keys=keys[:2])
    assert len(store.list_runs(state=S.CLAIMED).items) == 2
    assert [r.run_key for r in store.list_runs(source_id="HIPASSJ1304-12").items] == [keys[4]]
    page = store.list_runs("WALLABY", limit=3)
    assert [r.run_key for r in page.items + store.list_runs("WALLABY", limit=3, after=page.next_after).items] == keys
    assert store.resolve_run_key(keys[0][:10]) == keys[0]
    with pytest.raises(UnknownRun):
        store.resolve_run_key("ffffffffff")


def test_every_page_is_walked_once_in_order(store):
    keys = [planned_run(store, f"HIPASSJ13{i:02d}-12") for i in range(7)]
    store.claim_runs("a", ttl=TTL, run_keys=keys[::2])
    assert [r.run_key for r in store.iter_runs("WALLABY", page_size=2)] == keys
    assert [r.run_key for r in store.iter_runs("WALLABY", state=S.CLAIMED, page_size=3)] == keys[::2]
    assert list(store.iter_runs("DINGO")) == []
    sources = all_pages(lambda after: store.list_sources("WALLABY", limit=3, after=after))
    assert [s.source_id for s in sources] == [f"HIPASSJ13{i:02d}-12" for i in range(7)]


def test_a_hostile_survey_name_is_refused_before_anything_is_written(store):
    with pytest.raises(
        ValueError, match=r"survey \"W'; DROP TABLE beampipe_runs; --\": Value error, not a valid survey"
    ):
        store.register_sources("W'; DROP TABLE beampipe_runs; --", [SourceRecord(source_id="NGC5260")])
    assert store.list_sources().items == []
