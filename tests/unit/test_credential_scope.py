"""Where archive credentials may go, and which access URLs a dataset record may carry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from beampipe_provider.archive.base import ConnectionFields
from beampipe_provider.archive.casda.endpoints import CasdaEndpoints
from beampipe_provider.archive.credentials import CredentialScope
from beampipe_provider.ledger.records import DatasetRecord


def test_public_casda_sends_credentials_to_its_own_hosts_over_https_only() -> None:
    scope = CasdaEndpoints.of(ConnectionFields()).credential_scope()
    assert scope.allows("https://data.csiro.au/casda_vo_proxy/vo/datalink/links?ID=cube-1")
    assert scope.allows("https://casda.csiro.au:443/casda_data_access/x")
    for url in [
        "http://data.csiro.au/casda_vo_proxy/vo/datalink/links?ID=cube-1",
        "https://data.csiro.au.evil.example/x",
        "https://evil.example/x",
        "https://data.csiro.au:8443/x",
        "https://user:pw@data.csiro.au/x",
        "ftp://data.csiro.au/x",
    ]:
        assert not scope.allows(url), url


def test_loopback_http_only_when_the_connection_allows_it() -> None:
    assert not CredentialScope.of(["http://127.0.0.1:8080/tap"]).allows("http://127.0.0.1:8080/links")
    allowed = CredentialScope.of(["http://127.0.0.1:8080/tap"], allow_http_loopback=True)
    assert allowed.allows("http://127.0.0.1:8080/links")
    assert not allowed.allows("http://127.0.0.1:8081/links")
    assert not allowed.allows("http://127.0.0.2:8080/links")
    remote = CredentialScope.of(["http://archive.example.org/tap"], allow_http_loopback=True)
    assert not remote.allows("http://archive.example.org/links")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http:///nohost",
        "https://user:secret@h/x",
        "https://token@h/x",
        "https://h/a b",
        "https://h/a\nb",
        "https://h/" + "x" * 5000,
    ],
)
def test_a_dataset_record_refuses_an_access_url_that_is_not_a_plain_http_url(url: str) -> None:
    with pytest.raises(ValidationError, match="access_url"):
        DatasetRecord(dataset_id="d", survey="WALLABY", access_url=url)


def test_a_dataset_record_keeps_a_plain_access_url() -> None:
    url = "https://data.csiro.au/casda_vo_proxy/vo/datalink/links?ID=cube-1%2B2"
    assert DatasetRecord(dataset_id="d", survey="WALLABY", access_url=url).access_url == url
