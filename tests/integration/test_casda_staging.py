"""Staging and downloads against the emulator: our client and unmodified astroquery, and every data-side fault."""

from __future__ import annotations

import hashlib

import astropy.units as u
import httpx
import pytest
import pyvo
import requests
from astropy.coordinates import SkyCoord
from astroquery.casda import Casda

from beampipe_provider.archive.casda.staging import CasdaStager
from beampipe_provider.archive.credentials import CredentialScope
from beampipe_provider.archive.errors import (
    ArchiveUnavailable,
    ChecksumMismatch,
    NotAuthorised,
    StagingFailed,
    StagingTimeout,
)
from beampipe_provider.archive.fetch import download
from beampipe_provider.archive.tap import TapClient

USER, PASSWORD = "opal-user@example.org", "opal-password"
VISIBILITIES = "SELECT TOP 2 * FROM ivoa.obscore WHERE dataproduct_type = 'visibility' ORDER BY obs_publisher_did"


def scope(casda) -> CredentialScope:
    return CredentialScope.of([casda.tap_url], allow_http_loopback=True)


def stager(casda, **kwargs) -> CasdaStager:
    return CasdaStager(
        username=USER, password=PASSWORD, scope=scope(casda), poll_interval_s=0.05, max_poll_interval_s=0.2, **kwargs
    )


def access_urls(casda) -> list[str]:
    return [row["access_url"] for row in TapClient(casda.tap_url).query(VISIBILITIES, 10).rows]


def test_stage_and_download_two_products_verified(casda, tmp_path):
    results = stager(casda).stage(access_urls(casda), timeout_s=30)
    assert len(results) == 2
    assert all(r.checksum_href and r.checksum_href.endswith(".checksum") for r in results)
    with httpx.Client() as client:
        files = [download(client, r.href, tmp_path, checksum_href=r.checksum_href) for r in results]
    assert [f.path.name for f in files] == [
        "HIPASSJ1303+07_A_beam00_10arc_split.ms.tar",
        "HIPASSJ1318-21_A_beam01_10arc_split.ms.tar",
    ]
    for f in files:
        assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()
        assert f.size == f.path.stat().st_size > 65_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.path.name for f in files]  # no .part left


def test_unmodified_astroquery_stages_and_downloads_from_the_emulator(casda, tmp_path):
    table = pyvo.dal.TAPService(casda.tap_url).search(VISIBILITIES).to_table()
    client = Casda()
    client._soda_base_url = casda.base_url + "/casda_data_access/"  # the instance's URLs point at the emulator
    client.POLL_INTERVAL = 0.05
    # astroquery 0.4.11 reads the password only from a keyring or a TTY: give it the session it would have built.
    client._auth = requests.auth.HTTPBasicAuth(USER, PASSWORD)
    client._authenticated = True
    urls = client.stage_data(table)
    files = client.download_files(urls, savedir=str(tmp_path))
    assert len(files) == 4  # two products and their .checksum files
    assert all((tmp_path / name).stat().st_size > 0 for name in map(lambda f: f.rsplit("/", 1)[-1], files))


def test_unmodified_astroquery_region_query_uses_the_emulators_sia2(casda):
    rows = (
        TapClient(casda.tap_url)
        .query("SELECT TOP 1 s_ra, s_dec, obs_publisher_did FROM ivoa.obscore WHERE obs_collection = 'WALLABY'", 1)
        .rows
    )
    client = Casda()
    client.URL = casda.base_url + "/casda_vo_tools/sia2/query"
    table = client.query_region(SkyCoord(rows[0]["s_ra"], rows[0]["s_dec"], unit="deg"), radius=1 * u.arcsec)
    assert rows[0]["obs_publisher_did"] in list(table["obs_publisher_did"])


def test_wrong_credentials_are_named(casda):
    with pytest.raises(NotAuthorised, match="refused the OPAL credentials"):
        CasdaStager(username=USER, password="wrong", scope=scope(casda)).stage(access_urls(casda), timeout_s=5)


def test_job_ending_in_error_reports_the_archive_message(casda):
    casda.faults(soda_job_error=1)
    with pytest.raises(StagingFailed, match="ended ERROR: Staging failed: tape library unavailable"):
        stager(casda).stage(access_urls(casda), timeout_s=30)


def test_job_stuck_in_suspended_hits_the_deadline(casda):
    casda.faults(soda_stuck_suspended=1)
    with pytest.raises(StagingTimeout, match="still SUSPENDED at the deadline"):
        stager(casda).stage(access_urls(casda), timeout_s=1)


def test_truncated_download_resumes_with_range(casda, tmp_path):
    (result, _) = stager(casda).stage(access_urls(casda), timeout_s=30)
    casda.faults(download_truncate=1)
    with httpx.Client() as client:
        with pytest.raises(ArchiveUnavailable, match="interrupted"):
            download(client, result.href, tmp_path, checksum_href=result.checksum_href)
        (part,) = tmp_path.iterdir()
        assert part.name.endswith(".part")
        assert 0 < part.stat().st_size < 60_000
        done = download(client, result.href, tmp_path, checksum_href=result.checksum_href)
    assert [p.name for p in tmp_path.iterdir()] == [done.path.name]
    assert casda.admin("stats") == {"range_requests": 1}  # the second attempt asked only for the rest


def test_checksum_mismatch_deletes_the_file_and_says_which_sum(casda, tmp_path):
    (result, _) = stager(casda).stage(access_urls(casda), timeout_s=30)
    casda.faults(download_corrupt=1)
    with httpx.Client() as client, pytest.raises(ChecksumMismatch, match=r"crc32 is .* the archive says"):
        download(client, result.href, tmp_path, checksum_href=result.checksum_href)
    assert list(tmp_path.iterdir()) == []


def test_a_resume_onto_a_corrupted_prefix_starts_again_from_byte_zero_within_the_same_try(casda, tmp_path):
    # A Range resume keeps what the first attempt wrote, a corrupted prefix included: the whole file then fails its
    # checksum. It is fetched once more from byte zero in the same try, instead of spending the task's retry.
    (result, _) = stager(casda).stage(access_urls(casda), timeout_s=30)
    casda.faults(download_truncate=1)
    with httpx.Client() as client:
        with pytest.raises(ArchiveUnavailable, match="interrupted"):
            download(client, result.href, tmp_path, checksum_href=result.checksum_href)
        (part,) = tmp_path.iterdir()
        data = bytearray(part.read_bytes())
        data[0] ^= 0xFF
        part.write_bytes(bytes(data))
        done = download(client, result.href, tmp_path, checksum_href=result.checksum_href)
    assert [p.name for p in tmp_path.iterdir()] == [done.path.name]
    assert casda.admin("stats") == {"range_requests": 1}  # one resume, then one whole download
    with httpx.Client() as client:
        assert hashlib.sha256(client.get(result.href).content).hexdigest() == done.sha256
