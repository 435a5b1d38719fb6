"""Archives are found by name through entry points; CASDA's adapter runs discover -> stage -> download end to end."""

from __future__ import annotations

import pytest

from beampipe_provider.archive.base import load_archive

RULES = {"survey": "WALLABY", "project_codes": ["AS102"], "dataproduct_types": ["visibility"]}


def test_casda_adapter_by_name_discovers_stages_and_downloads(casda, tmp_path):
    archive = load_archive(
        "casda", tap_url=casda.tap_url, rules=RULES, username="opal-user@example.org", password="opal-password"
    )
    found = archive.discover(since=None, until=None)
    assert len(found) == 18
    staged = archive.stage(found[:2], timeout_s=30)
    files = [archive.download(s, tmp_path) for s in staged]
    assert [f.path.parent for f in files] == [tmp_path, tmp_path]
    assert "opal-password" not in repr(archive)


def test_unknown_archive_names_the_installed_ones():
    with pytest.raises(LookupError, match="no archive adapter 'mast'; installed: casda"):
        load_archive("mast")
