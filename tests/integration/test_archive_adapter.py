"""Archives are found by name through entry points; CASDA's adapter runs discover -> plan staging -> fetch."""

from __future__ import annotations

import pytest

from beampipe_provider.archive.base import ConnectionFields, Verification, load_archive

RULES = {"survey": "WALLABY", "project_codes": ["AS102"], "dataproduct_types": ["visibility"]}


def test_casda_adapter_by_name_discovers_plans_staging_and_fetches(casda, tmp_path):
    connection = ConnectionFields(
        login="opal-user@example.org",
        password="opal-password",
        extra={"tap_url": casda.tap_url, "allow_http_loopback": True},
    )
    archive = load_archive("casda", rules=RULES, connection=connection)
    found = archive.discover(since=None, until=None)
    assert len(found.datasets) == 18
    assert [d.sbid for d in found.deposits] == [33681, 33701, 33721, 33741, 33761, 33781]
    plan = archive.plan_staging(found.datasets[:2], timeout_s=30)
    assert {i.dataset_id for i in plan.items} == {d.dataset_id for d in found.datasets[:2]}
    files = [archive.fetch(item, tmp_path) for item in plan.items]
    assert [f.path.parent for f in files] == [tmp_path, tmp_path]
    assert {f.verification for f in files} == {Verification.CHECKSUM}
    assert "opal-password" not in repr(archive)
    archive.close()


def test_unknown_archive_names_the_installed_ones():
    with pytest.raises(LookupError, match="no archive adapter 'mast'; installed: casda, obscore"):
        load_archive("mast")
