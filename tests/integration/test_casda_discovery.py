"""Discovery against the CASDA emulator (a real HTTP server), with unmodified pyvo and our own TAP clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import pyvo
import sqlalchemy as sa

from beampipe_provider.archive.casda.discovery import SurveyRules, adiscover, discover
from beampipe_provider.archive.errors import ArchiveQueryError, ArchiveUnavailable
from beampipe_provider.archive.tap import AsyncTapClient, TapClient

WALLABY = SurveyRules(
    survey="WALLABY",
    project_codes=["AS102"],
    collections=["WALLABY"],
    dataproduct_types=["visibility"],
    filename_patterns=["%_10arc_split.ms.tar"],
)
SEED_START = datetime(2024, 3, 1, tzinfo=UTC)  # the emulator's six seeded SBIDs are deposited a day apart


def test_unmodified_pyvo_runs_the_adql_casda_users_send(casda):
    tap = pyvo.dal.TAPService(casda.tap_url)
    joined = tap.search(
        "SELECT TOP 5 o.obs_publisher_did, e.event_date, p.short_name FROM ivoa.obscore AS o "
        "JOIN casda.observation_event AS e ON o.obs_id = 'ASKAP-' || CAST(e.sbid AS VARCHAR(12)) "
        "JOIN casda.project AS p ON p.opal_code = e.project_code "
        "WHERE o.filename LIKE '%10arc%' AND e.sbid IN (SELECT sbid FROM casda.observation_event "
        "WHERE project_code = 'AS102') ORDER BY o.obs_publisher_did"
    ).to_table()
    assert len(joined) == 5
    assert set(joined["short_name"]) == {"WALLABY"}
    counts = tap.search("SELECT obs_collection, COUNT(*) AS n FROM ivoa.obscore GROUP BY obs_collection").to_table()
    assert dict(zip(counts["obs_collection"], counts["n"], strict=True)) == {"EMU": 1, "WALLABY": 42}
    truncated = tap.search("SELECT sbid FROM casda.observation_event", maxrec=3)
    assert len(truncated) == 3
    assert truncated.query_status == "OVERFLOW"
    with pytest.raises(pyvo.dal.DALQueryError, match="Only SELECT is allowed"):
        tap.search("DELETE FROM ivoa.obscore")


def test_first_poll_finds_every_wallaby_visibility_and_its_source(casda):
    found = discover(TapClient(casda.tap_url), WALLABY, since=None)
    assert len(found.deposits) == 6  # the EMU (AS101) deposit is not ours
    assert len(found.datasets) == 18  # 3 split visibilities per SBID; cubes and EMU products filtered out
    first = min(found.datasets, key=lambda d: d.dataset_id)
    assert (first.dataset_id, first.source_id, first.sbid, first.filename) == (
        "visibility-3368100",
        "HIPASSJ1303+07",
        33681,
        "HIPASSJ1303+07_A_beam00_10arc_split.ms.tar",
    )
    assert first.size == 7_800_000 * 1024
    assert found.watermark == SEED_START + timedelta(days=5)


def test_small_pages_give_the_same_answer_as_one_big_page(casda):
    client = TapClient(casda.tap_url)
    whole = discover(client, WALLABY, since=None)
    paged = discover(client, WALLABY, since=None, page_size=2, sbid_batch=2)
    assert sorted(d.dataset_id for d in paged.datasets) == sorted(d.dataset_id for d in whole.datasets)
    assert paged.queries > whole.queries


def test_backfill_window_is_half_open(casda):
    found = discover(
        TapClient(casda.tap_url), WALLABY, since=SEED_START + timedelta(days=1), until=SEED_START + timedelta(days=3)
    )
    assert sorted(e.sbid for e in found.deposits) == [33701, 33721]


def test_incremental_poll_with_overlap_finds_the_new_deposit_and_the_ledger_keeps_it_single(casda, store):
    client = TapClient(casda.tap_url)
    first = discover(client, WALLABY, since=None)
    assert len(store.record_datasets(first.datasets).new) == 18

    casda.deposit(34001, ["HIPASSJ1318-21", "NGC5260"], when=(first.watermark + timedelta(hours=1)).isoformat())
    # A late event stamped before the watermark still falls inside the overlap window.
    casda.deposit(34003, ["ESO509-G040"], when=(first.watermark - timedelta(minutes=30)).isoformat())
    second = discover(client, WALLABY, since=first.watermark - timedelta(hours=2))
    recorded = store.record_datasets(second.datasets)
    assert sorted(recorded.new) == ["visibility-3400100", "visibility-3400101", "visibility-3400300"]
    assert recorded.unchanged  # the overlap re-read the last seeded SBID: recognised, not new
    assert second.watermark == first.watermark + timedelta(hours=1)


def test_an_updated_deposit_with_new_content_is_reported_changed(casda, store):
    client = TapClient(casda.tap_url)
    first = discover(client, WALLABY, since=None)
    store.record_datasets(first.datasets)
    later = first.watermark + timedelta(days=1)
    casda.admin("redeposit", {"did": "visibility-3368101", "size_kb": 7_900_000, "when": later.isoformat()})
    again = discover(client, WALLABY, since=first.watermark)
    assert [e.event_type for e in again.deposits] == ["DEPOSITED", "UPDATED"]  # overlap re-reads the last one
    recorded = store.record_datasets(again.datasets)
    assert recorded.changed == ["visibility-3368101"]
    assert recorded.new == []


async def test_async_discovery_gives_the_same_answer(casda):
    client = AsyncTapClient(casda.tap_url)
    try:
        found = await adiscover(client, WALLABY, since=None)
    finally:
        await client.aclose()
    assert sorted(d.dataset_id for d in found.datasets) == sorted(
        d.dataset_id for d in discover(TapClient(casda.tap_url), WALLABY, since=None).datasets
    )


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("tap_http_500", ArchiveUnavailable, "HTTP 500"),
        ("tap_malformed", ArchiveUnavailable, "malformed VOTable"),
        ("tap_query_error", ArchiveQueryError, "injected fault"),
    ],
)
def test_archive_faults_are_typed_and_nothing_is_recorded(casda, store, fault, error, message):
    casda.faults(**{fault: 1})
    with pytest.raises(error, match=message):
        store.record_datasets(discover(TapClient(casda.tap_url), WALLABY, since=None).datasets)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM beampipe_datasets")).scalar() == 0
    assert len(discover(TapClient(casda.tap_url), WALLABY, since=None).datasets) == 18  # the fault was one-off


def test_a_slow_archive_only_slows_discovery(casda):
    casda.faults(latency_s=0.3)
    started = time.monotonic()
    found = discover(TapClient(casda.tap_url), WALLABY, since=None)
    assert len(found.datasets) == 18
    assert time.monotonic() - started >= 0.3 * found.queries  # the latency was really there, and waited out


def test_a_hanging_archive_times_out_as_transient(casda):
    casda.faults(tap_hang_s=5)
    with pytest.raises(ArchiveUnavailable, match="unreachable"):
        TapClient(casda.tap_url, timeout_s=1).query("SELECT TOP 1 sbid FROM casda.observation_event", 1)


def test_unreachable_archive_is_transient(casda):
    with pytest.raises(ArchiveUnavailable, match="unreachable"):
        TapClient("http://127.0.0.1:9/casda_vo_tools/tap", timeout_s=2).query("SELECT 1", 1)
