"""Local file names and path components: what an archive, a form or a DAG names never runs, never escapes."""

from __future__ import annotations

import re

import httpx
import pytest

from beampipe_provider.archive.base import FetchItem
from beampipe_provider.archive.errors import UnsafeFileName
from beampipe_provider.archive.fetch import fetch, staged_names
from beampipe_provider.common.names import UnsafeName, input_path, local_file_name, path_component
from beampipe_provider.workflow.base import WorkflowError
from beampipe_provider.workflow.bundle import datasets_from

LOCAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,199}")
HOSTILE = [
    "x'$(touch /tmp/pwned)'.ms.tar",
    "a`id`.fits",
    "a;b|c&d.fits",
    "a(b)<c>d.fits",
    "with space.fits",
    "$HOME.fits",
    "-rf.fits",
    ".hidden.fits",
    "..fits",
    "a..b.fits",
    "ünïcødé.fits",
    "x" * 300 + ".fits",
    "\u202eevil.fits",
    "a.fi ts",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_archive_name_becomes_a_plain_local_name(name: str) -> None:
    local = local_file_name(name)
    assert LOCAL.fullmatch(local), local
    assert ".." not in local
    assert local == local_file_name(name)  # deterministic
    assert local_file_name(local) == local  # a local name is its own local name


def test_plain_names_are_kept_and_changed_ones_keep_a_readable_stem_and_suffix() -> None:
    assert local_file_name("HIPASSJ1303+07_A_beam00_10arc_split.ms.tar") == "HIPASSJ1303+07_A_beam00_10arc_split.ms.tar"
    changed = local_file_name("HIPASS J1303'$(id)'.ms.tar")
    assert changed.startswith("HIPASS_J1303_")
    assert changed.endswith(".ms.tar")


def test_names_that_sanitise_alike_still_differ() -> None:
    names = ["a b.fits", "a;b.fits", "a|b.fits", "a_b.fits", "a-b.fits", "a b.fits ", "A B.fits"]
    assert len({local_file_name(n) for n in names}) == len(names)


def test_staged_names_keep_the_archive_name_as_data() -> None:
    archive, local = staged_names("https://d/download/j1/x%27%24%28touch%20%2Ftmp%2Fm%29%27.ms.tar?sig=a%2Fb")
    assert archive == "x'$(touch /tmp/m)'.ms.tar"
    assert LOCAL.fullmatch(local)
    assert local.endswith(".ms.tar")


def test_fetch_refuses_a_local_name_that_is_not_one(tmp_path) -> None:
    item = FetchItem(dataset_id="d", url="http://127.0.0.1:9/x", local_name="x'$(id)'.fits")
    with httpx.Client() as client, pytest.raises(UnsafeFileName):
        fetch(client, item, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "value", ["../../.ssh", "..", ".", "", "a/b", "abc", "A" * 64, "0" * 63, "bp-x", "0" * 64 + "\n"]
)
def test_run_keys_are_64_hex_or_the_job_name_hash(value: str) -> None:
    with pytest.raises(UnsafeName, match="run_key"):
        path_component("run_key", value, run_key=True)


def test_good_run_keys_and_components_pass() -> None:
    assert path_component("run_key", "a" * 64, run_key=True) == "a" * 64
    assert path_component("run_key", "bp-" + "0" * 32, run_key=True)
    assert path_component("survey", "WALLABY") == "WALLABY"
    assert path_component("source_id", "HIPASSJ1303+07") == "HIPASSJ1303+07"


@pytest.mark.parametrize("value", ["../x", "a/b", ".ssh", "-rf", "a b", "a;b", "a..b", "x" * 129, 5])
def test_hostile_components_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(UnsafeName, match="job_name"):
        path_component("job_name", value)


@pytest.mark.parametrize(
    "path", ["/stage/k/x'$(id)'.fits", "/stage/../etc/passwd", "/stage/k/-rf", "/st age/k/a.fits", "/stage/k/.x"]
)
def test_input_paths_that_would_reach_a_command_are_refused(path: str) -> None:
    with pytest.raises(UnsafeName):
        input_path("path", path)
    with pytest.raises(WorkflowError, match="path"):
        datasets_from([{"path": path}])


def test_a_stage_report_becomes_datasets_with_local_paths_and_archive_names_as_data() -> None:
    report = {
        "directory": "/stage/" + "a" * 64,
        "files": [{"name": local_file_name("x y.fits"), "archive_name": "x y.fits", "dataset_id": "d1"}],
    }
    (dataset,) = datasets_from(report)
    assert dataset["path"] == f"/stage/{'a' * 64}/{local_file_name('x y.fits')}"
    assert dataset["archive_name"] == "x y.fits"
    with pytest.raises(WorkflowError, match="source_id"):
        datasets_from([{"path": "/stage/a.fits", "source_id": "$(id)"}])
