"""ObsCore ADQL and rules: only validated, quoted values reach a query; hostile values never leave the process."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from beampipe_provider.archive.casda.adql import AdqlValueError
from beampipe_provider.archive.datalink import parse_datalink
from beampipe_provider.archive.errors import ChecksumMismatch
from beampipe_provider.archive.fetch import parse_digest_header
from beampipe_provider.archive.obscore import adql
from beampipe_provider.archive.obscore.discovery import ObscoreRules, discovery_steps, name_of, to_dataset
from beampipe_provider.archive.tap import TapResult

T0 = datetime(2024, 5, 1, tzinfo=UTC)
RULES = {"survey": "WALLABY", "tap_url": "https://archive.example.org/tap"}


def test_release_date_window_is_half_open_filtered_and_keyset_paged():
    q = adql.products_query(
        watermark="obs_release_date",
        since=T0,
        until=T0 + timedelta(days=1),
        collections=["MeerKAT-HI"],
        dataproduct_types=["visibility"],
        filename_patterns=["%_beam01.ms.tar"],
        after=(T0, "ivo://x.org/a?b_beam01.ms.tar"),
    )
    assert q.endswith(
        "FROM ivoa.obscore WHERE obs_release_date IS NOT NULL AND obs_release_date < '2024-05-02T00:00:00.000' "
        "AND obs_release_date >= '2024-05-01T00:00:00.000' AND obs_collection IN ('MeerKAT-HI') "
        "AND dataproduct_type IN ('visibility') AND (obs_publisher_did LIKE '%_beam01.ms.tar') "
        "AND (obs_release_date > '2024-05-01T00:00:00.000' OR (obs_release_date = '2024-05-01T00:00:00.000' "
        "AND obs_publisher_did > 'ivo://x.org/a?b_beam01.ms.tar')) ORDER BY obs_release_date, obs_publisher_did"
    )


def test_t_max_is_compared_in_mjd_and_continued_from_the_raw_value():
    q = adql.products_query(watermark="t_max", since=T0, until=T0 + timedelta(hours=12), after=(60431.1, "a"))
    assert "t_max < 60431.5 AND t_max >= 60431.0" in q
    assert "(t_max > 60431.1 OR (t_max = 60431.1 AND obs_publisher_did > 'a'))" in q
    assert adql.from_mjd(adql.to_mjd(T0)) == T0


@pytest.mark.parametrize(
    "rules",
    [
        {"collections": ["WALLABY' OR 1=1 --"]},
        {"dataproduct_types": ["cube;DROP"]},
        {"filename_patterns": ["%' OR 'a'='a"]},
        {"tap_url": "file:///etc/passwd"},
        {"tap_url": "https://archive.example.org/tap?x=1"},
        {"datalink_url": "ftp://archive.example.org/links"},
        {"watermark": "event_date"},
        {"filename_column": "filename"},
        {"source_pattern": "^(.*)$"},
        {"overlap": "-PT1H"},
        {"page_size": 0},
        {"unknown": 1},
    ],
)
def test_rules_refuse_values_that_must_not_reach_the_archive(rules):
    with pytest.raises(ValidationError):
        ObscoreRules.model_validate({**RULES, **rules})


def test_a_keyset_identifier_with_a_quote_is_refused():
    with pytest.raises(AdqlValueError, match="obs_publisher_did"):
        adql.products_query(watermark="obs_release_date", since=None, until=T0, after=(T0, "a'b"))


def test_the_window_starts_at_since_minus_overlap_and_ends_at_now():
    rules = ObscoreRules.model_validate({**RULES, "overlap": "PT2H"})
    steps = discovery_steps(rules, since=T0, until=T0 + timedelta(days=400), now=T0 + timedelta(days=1))
    first = next(steps)
    assert "obs_release_date >= '2024-04-30T22:00:00.000'" in first.adql
    assert "obs_release_date < '2024-05-02T00:00:00.000'" in first.adql  # nothing released in the future yet
    with pytest.raises(StopIteration) as done:
        steps.send(TapResult([], overflow=False))
    assert done.value.value.watermark is None


def test_file_names_and_sources_come_from_the_identifier_and_target():
    rules = ObscoreRules.model_validate(RULES)
    row = {
        "obs_publisher_did": "ivo://x.org/obs?HIPASSJ1303+07_beam00.ms.tar",
        "obs_id": "MKT-1",
        "target_name": "NGC 4636",  # not a source ID: no source rather than a refused record
        "access_estsize": 10,
        "obs_release_date": "2024-05-01T00:00:00.000",
    }
    record = to_dataset(row, rules)
    assert (record.filename, record.source_id, record.size) == ("HIPASSJ1303+07_beam00.ms.tar", None, 10 * 1024)
    assert name_of("https://x.org/links?ID=ivo%3A%2F%2Fx.org%2Fobs%3Fa.fits") == "a.fits"


def test_digest_headers_of_both_rfcs_are_read_and_unknown_algorithms_ignored():
    assert parse_digest_header("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:").sha256 == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert parse_digest_header("MD5=1B2M2Y8AsgTpgAmY7PhCfg==").md5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert parse_digest_header("sha-512=:AAAA:, unixsum=30637") is None
    with pytest.raises(ChecksumMismatch, match="unreadable"):
        parse_digest_header("sha-256=:not base64!:")


def test_datalink_service_parameters_follow_their_column_references():
    document = parse_datalink(
        b'<?xml version="1.0"?><VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        b'<RESOURCE type="results"><TABLE><FIELD name="ID" ID="pid" datatype="char" arraysize="*"/>'
        b'<FIELD name="service_def" datatype="char" arraysize="*"/><FIELD name="semantics" datatype="char" '
        b'arraysize="*"/><FIELD name="content_length" datatype="long"/><DATA><TABLEDATA><TR><TD>ivo://x?a</TD>'
        b"<TD>soda</TD><TD>#this</TD><TD>12</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE>"
        b'<RESOURCE type="meta" utype="adhoc:service" ID="soda"><PARAM name="accessURL" datatype="char" '
        b'arraysize="*" value="https://x.org/soda"/><GROUP name="inputParams"><PARAM name="ID" datatype="char" '
        b'arraysize="*" value="" ref="pid"/><PARAM name="RESPONSEFORMAT" datatype="char" arraysize="*" '
        b'value="application/x-tar"/></GROUP></RESOURCE></VOTABLE>'
    )
    (link,) = document.links
    assert (link.service_def, link.semantics, link.content_length) == ("soda", "#this", 12)
    service = document.services["soda"]
    assert service.access_url == "https://x.org/soda"
    assert service.params_for(link) == [("ID", "ivo://x?a"), ("RESPONSEFORMAT", "application/x-tar")]
