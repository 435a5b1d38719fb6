"""The generic ObsCore adapter against the emulator's /obscore mount (a real HTTP server), end to end by name."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import pyvo

from beampipe_provider.archive.base import ConnectionFields, Verification, load_archive
from beampipe_provider.archive.errors import ArchiveQueryError, ChecksumMismatch, NotAuthorised
from beampipe_provider.archive.obscore.adapter import ObscoreArchive
from beampipe_provider.testing.casda.data_access import content
from tests.casda_emulator import RunningEmulator, casda_emulator

SEED_START = datetime(2024, 5, 1, tzinfo=UTC)  # three MeerKAT-HI observations released a day apart
AUTHORITY = "ivo://beampipe.test/obscore"
USER, PASSWORD = "opal-user@example.org", "opal-password"
LOOPBACK = {"allow_http_loopback": True}  # the emulator is plain http on loopback


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with casda_emulator("--seed", "empty") as running:
        yield running


def tap_url(emulator: RunningEmulator) -> str:
    return emulator.base_url + "/obscore/tap"


def archive(emulator: RunningEmulator, connection: ConnectionFields | None = None, **rules) -> ObscoreArchive:
    base = {"survey": "WALLABY", "tap_url": tap_url(emulator), "collections": ["MeerKAT-HI"]}
    found = load_archive("obscore", rules={**base, "dataproduct_types": ["visibility"], **rules}, connection=connection)
    assert isinstance(found, ObscoreArchive)
    found.poll_interval_s, found.max_poll_interval_s = 0.05, 0.2
    return found


def add(emulator: RunningEmulator, **spec) -> str:
    return emulator.admin("obscore/product", spec)["added"]


def datasets_named(found, *names):
    by_id = {d.dataset_id: d for d in found.datasets}
    return [by_id[f"{AUTHORITY}?{name}"] for name in names]


def test_first_poll_finds_the_released_visibilities_one_deposit_per_observation(emulator):
    found = archive(emulator).discover(since=None, until=None)
    assert len(found.datasets) == 6  # cubes, the other collection and the product released in 2099 are not ours
    assert [(d.block, d.event_type, d.event_date, len(d.dataset_ids)) for d in found.deposits] == [
        ("MKT-1001", "RELEASED", "2024-05-01T00:00:00+00:00", 2),
        ("MKT-1002", "RELEASED", "2024-05-02T00:00:00+00:00", 2),
        ("MKT-1003", "RELEASED", "2024-05-03T00:00:00+00:00", 2),
    ]
    assert [d.key for d in found.deposits] == sorted(d.key for d in found.deposits)
    (first,) = datasets_named(found, "HIPASSJ1303+07_beam00.ms.tar")
    assert (first.archive, first.source_id, first.filename, first.sbid) == (
        "obscore",
        "HIPASSJ1303+07",
        "HIPASSJ1303+07_beam00.ms.tar",
        None,
    )
    assert first.size == math.ceil(len(content(first.dataset_id)) / 1024) * 1024  # access_estsize is in kB
    assert found.watermark == SEED_START + timedelta(days=2)


def test_filename_patterns_select_on_the_publisher_did(emulator):
    found = archive(emulator, filename_patterns=["%_beam01.ms.tar"]).discover(since=None, until=None)
    assert sorted(d.filename for d in found.datasets) == [
        "HIPASSJ1312-15_beam01.ms.tar",
        "HIPASSJ1318-21_beam01.ms.tar",
        "NGC5260_beam01.ms.tar",
    ]


def test_small_pages_give_the_same_answer_as_one_big_page(emulator):
    whole = archive(emulator).discover(since=None, until=None)
    paged = archive(emulator, page_size=2).discover(since=None, until=None)
    assert [d.dataset_id for d in paged.datasets] == [d.dataset_id for d in whole.datasets]
    assert paged.queries == 3 > whole.queries  # two pages said OVERFLOW, the third held the last two


def test_a_re_poll_with_overlap_finds_new_and_late_products_and_repeats_only_known_keys(emulator):
    adapter = archive(emulator, overlap="PT1H")
    first = adapter.discover(since=None, until=None)
    add(
        emulator,
        name="HIPASSJ1337-29_beam00.ms.tar",
        obs_id="MKT-1004",
        when=(first.watermark + timedelta(hours=2)).isoformat(),
    )
    # Announced late, released before the watermark: still inside the overlap window.
    add(
        emulator,
        name="NGC5044_beam00.ms.tar",
        obs_id="MKT-1005",
        when=(first.watermark - timedelta(minutes=30)).isoformat(),
    )
    second = adapter.discover(since=first.watermark, until=None)
    ids = [d.dataset_id for d in second.datasets]
    assert len(ids) == len(set(ids))
    known = {d.key for d in first.deposits}
    assert [d.block for d in second.deposits if d.key not in known] == ["MKT-1005", "MKT-1004"]
    assert [d.block for d in second.deposits if d.key in known] == ["MKT-1003"]  # the overlap re-read it, same key
    assert second.watermark == first.watermark + timedelta(hours=2)


def test_t_max_watermark_windows_on_the_end_of_observation_in_mjd(emulator):
    adapter = archive(emulator, watermark="t_max", overlap="PT0S")
    observed = SEED_START - timedelta(days=30)  # the seed observes each field 30 days before its release
    found = adapter.discover(since=observed + timedelta(days=1), until=observed + timedelta(days=2))
    assert [(d.block, d.event_type) for d in found.deposits] == [("MKT-1002", "OBSERVED")]
    assert found.watermark is not None
    assert abs(found.watermark - (observed + timedelta(days=1))) < timedelta(seconds=1)


async def test_async_discovery_gives_the_same_answer(emulator):
    adapter = archive(emulator, page_size=4)
    try:
        found = await adapter.adiscover(since=None, until=None)
    finally:
        await adapter.aclose()
    assert found.deposits == archive(emulator, page_size=4).discover(since=None, until=None).deposits


def test_direct_and_soda_products_are_staged_and_fetched_checksum_verified(emulator, tmp_path):
    adapter = archive(emulator)
    found = adapter.discover(since=None, until=SEED_START + timedelta(hours=1))
    plan = adapter.plan_staging(found.datasets, timeout_s=30)
    assert sorted(i.local_name for i in plan.items) == ["HIPASSJ1303+07_beam00.ms.tar", "HIPASSJ1318-21_beam01.ms.tar"]
    assert "/obscore/soda/async/" in (plan.job or "")  # the SODA product went through a UWS job
    files = [adapter.fetch(item, tmp_path) for item in plan.items]
    for item, local in zip(plan.items, files, strict=True):
        assert local.verification == Verification.CHECKSUM
        assert local.dataset_id == item.dataset_id
        assert local.sha256 == hashlib.sha256(local.path.read_bytes()).hexdigest()
        assert local.size == item.size
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(i.local_name for i in plan.items)


def test_a_product_without_a_checksum_is_recorded_as_size_verified(emulator, tmp_path):
    adapter = archive(emulator)
    (dataset,) = datasets_named(adapter.discover(since=None, until=None), "HIPASSJ1324-24_beam00.ms.tar")
    (item,) = adapter.plan_staging([dataset], timeout_s=30).items
    local = adapter.fetch(item, tmp_path)
    assert local.verification == Verification.SIZE
    assert local.size == item.size == local.path.stat().st_size


def test_an_access_url_that_is_the_file_itself_is_fetched_from_its_headers(emulator, tmp_path):
    add(emulator, name="NGC4636_beam00.ms.tar", obs_id="MKT-1006", when="2024-06-01T00:00:00+00:00", delivery="plain")
    adapter = archive(emulator)
    (dataset,) = datasets_named(adapter.discover(since=None, until=None), "NGC4636_beam00.ms.tar")
    (item,) = adapter.plan_staging([dataset], timeout_s=30).items
    assert item.url == dataset.access_url
    assert adapter.fetch(item, tmp_path).verification == Verification.CHECKSUM


def test_a_corrupted_download_is_refused_and_nothing_is_left(emulator, tmp_path):
    adapter = archive(emulator)
    (dataset,) = datasets_named(adapter.discover(since=None, until=None), "HIPASSJ1303+07_beam00.ms.tar")
    (item,) = adapter.plan_staging([dataset], timeout_s=30).items
    emulator.faults(download_corrupt=1)
    with pytest.raises(ChecksumMismatch, match=r"sha256 is .* the archive says"):
        adapter.fetch(item, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert adapter.fetch(item, tmp_path).verification == Verification.CHECKSUM  # the fault was one-off


def test_credentials_go_to_the_archives_own_services_only(emulator, tmp_path):
    add(
        emulator,
        name="NGC5260_beam02.ms.tar",
        obs_id="MKT-1007",
        when="2024-06-01T00:00:00+00:00",
        delivery="soda",
        host="localhost",
    )
    adapter = archive(emulator, ConnectionFields(login=USER, password=PASSWORD, extra=LOOPBACK))
    found = adapter.discover(since=None, until=None)
    ours, foreign = datasets_named(found, "HIPASSJ1318-21_beam01.ms.tar", "NGC5260_beam02.ms.tar")
    plan = adapter.plan_staging([ours, foreign], timeout_s=30)
    for item in plan.items:
        adapter.fetch(item, tmp_path)
    log = emulator.admin("obscore/auth_log")
    assert {e["credentials"] for e in log if e["host"] == "localhost"} == {False}
    assert {e["path"].rsplit("/", 1)[-1] for e in log if e["credentials"]} >= {"datalink", "async"}
    assert not any(e["credentials"] for e in log if "/files/" in e["path"] or "/staged/" in e["path"])
    assert {p.name for p in tmp_path.iterdir()} == {"HIPASSJ1318-21_beam01.ms.tar", "NGC5260_beam02.ms.tar"}


def test_wrong_credentials_are_named(emulator):
    adapter = archive(emulator, ConnectionFields(login=USER, password="wrong", extra=LOOPBACK))
    datasets = adapter.discover(since=None, until=None).datasets
    with pytest.raises(NotAuthorised, match="HTTP 401"):
        adapter.plan_staging(datasets[:1], timeout_s=5)


def test_unmodified_pyvo_queries_the_mount_sync_and_async(emulator):
    tap = pyvo.dal.TAPService(tap_url(emulator))
    rows = tap.search("SELECT obs_collection, COUNT(*) AS n FROM ivoa.obscore GROUP BY obs_collection").to_table()
    assert dict(zip(rows["obs_collection"], rows["n"], strict=True)) == {"MeerKAT-HI": 10, "Other": 1}
    job = tap.run_async("SELECT TOP 3 obs_publisher_did, t_max FROM ivoa.obscore ORDER BY t_max")
    assert len(job) == 3
    assert tap.search("SELECT obs_id FROM ivoa.obscore", maxrec=2).query_status == "OVERFLOW"
    with pytest.raises(pyvo.dal.DALQueryError, match=r"casda\.observation_event does not exist"):
        tap.search("SELECT sbid FROM casda.observation_event")


def test_the_mount_has_no_casda_tables_for_our_client_either(emulator):
    adapter = archive(emulator)
    from beampipe_provider.archive.tap import TapClient

    with pytest.raises(ArchiveQueryError, match="does not exist"):
        TapClient(adapter.rules.tap_url).query("SELECT TOP 1 * FROM casda.project", 1)
