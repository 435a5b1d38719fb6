"""A hostile archive against the adapters: a product name that is a shell command is staged under a plain local
name, and an access_url pointing anywhere but the connection's endpoints never gets the OPAL credentials."""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from beampipe_provider.archive.base import ConnectionFields, load_archive
from beampipe_provider.archive.casda.staging import CasdaStager
from beampipe_provider.archive.credentials import CredentialScope
from beampipe_provider.archive.errors import NotAuthorised
from beampipe_provider.ledger.records import DatasetRecord

USER, PASSWORD = "opal-user@example.org", "opal-password"
RULES = {"survey": "WALLABY", "project_codes": ["AS102"], "dataproduct_types": ["visibility"]}
LOCAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,199}")


def connection(casda) -> ConnectionFields:
    return ConnectionFields(
        login=USER, password=PASSWORD, extra={"tap_url": casda.tap_url, "allow_http_loopback": True}
    )


def test_a_hostile_product_name_is_staged_under_a_local_name(casda, tmp_path: Path) -> None:
    marker = Path("/tmp", f"beampipe-pwned-{uuid.uuid4().hex}")
    hostile = f"x'$(touch {marker})';`touch {marker}`|id&&(id)<x>y.ms.tar"
    casda.deposit(34991, ["HIPASSJ1303+07"], names={"visibility-3499100": hostile})
    archive = load_archive("casda", rules=RULES, connection=connection(casda))
    try:
        (dataset,) = [d for d in archive.discover(since=None, until=None).datasets if d.filename == hostile]
        plan = archive.plan_staging([dataset], timeout_s=30)
        (item,) = plan.items
        assert item.archive_name == hostile
        assert item.dataset_id == dataset.dataset_id
        assert LOCAL.fullmatch(item.local_name)
        assert item.local_name.endswith(".ms.tar")
        local = archive.fetch(item, tmp_path)
    finally:
        archive.close()
    assert [p.name for p in tmp_path.iterdir()] == [item.local_name]
    assert local.size > 65_000
    assert not marker.exists()


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A listener on another loopback address that records every request's headers."""
    seen: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("where", ["another address", "another port"])
def test_a_foreign_access_url_is_refused_naming_the_dataset(casda, foreign, where: str) -> None:
    base, seen = foreign
    if where == "another port":  # the emulator's own address, a port that is not its
        base = base.replace("127.0.0.2", "127.0.0.1")
    record = DatasetRecord(
        dataset_id="visibility-stolen",
        survey="WALLABY",
        access_url=f"{base}/casda_vo_proxy/vo/datalink/links?ID=visibility-stolen",
    )
    archive = load_archive("casda", rules=RULES, connection=connection(casda))
    try:
        with pytest.raises(NotAuthorised, match="visibility-stolen"):
            archive.plan_staging([record], timeout_s=5)
    finally:
        archive.close()
    assert not any("Authorization" in h or "authorization" in h for h in seen)


def test_the_stager_itself_never_sends_credentials_to_a_foreign_host(casda, foreign) -> None:
    base, seen = foreign
    stager = CasdaStager(
        username=USER, password=PASSWORD, scope=CredentialScope.of([casda.tap_url], allow_http_loopback=True)
    )
    with pytest.raises(NotAuthorised, match="not one of the connection's endpoints"):
        stager.stage([f"{base}/links?ID=x"], timeout_s=5)
    assert seen == []


def test_plain_http_needs_the_connections_loopback_allowance(casda) -> None:
    archive = load_archive(
        "casda",
        rules=RULES,
        connection=ConnectionFields(login=USER, password=PASSWORD, extra={"tap_url": casda.tap_url}),
    )
    try:
        datasets = archive.discover(since=None, until=None).datasets[:1]
        with pytest.raises(NotAuthorised, match="https only"):
            archive.plan_staging(datasets, timeout_s=5)
    finally:
        archive.close()


@pytest.mark.parametrize("delivery", ["direct", "soda", "plain"])
def test_an_obscore_product_with_a_hostile_name_gets_a_local_name(tmp_path: Path, delivery: str) -> None:
    from tests.casda_emulator import casda_emulator

    hostile = "HIPASSJ1400+01_beam00'$(id)';`id`|x&&y (1)<z>.ms.tar"
    with casda_emulator("--seed", "empty") as emulator:
        emulator.admin(
            "obscore/product",
            {"name": hostile, "obs_id": "MKT-1099", "when": "2024-06-01T00:00:00+00:00", "delivery": delivery},
        )
        rules = {
            "survey": "WALLABY",
            "tap_url": emulator.base_url + "/obscore/tap",
            "collections": ["MeerKAT-HI"],
            "dataproduct_types": ["visibility"],
        }
        archive = load_archive("obscore", rules=rules, connection=ConnectionFields())
        try:
            (dataset,) = [d for d in archive.discover(since=None, until=None).datasets if d.filename == hostile]
            (item,) = archive.plan_staging([dataset], timeout_s=30).items
            local = archive.fetch(item, tmp_path)
        finally:
            archive.close()
    assert item.archive_name == hostile
    assert LOCAL.fullmatch(item.local_name)
    assert local.path.name == item.local_name
    assert [p.name for p in tmp_path.iterdir()] == [item.local_name]
