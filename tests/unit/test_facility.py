"""Facility profiles: the built-in ones load, a site's own YAML works without code, a bad one names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from beampipe_provider.workflow.facility import FacilityError, builtin_facilities, load_facility, parse_facility

MINIMAL = "name: mysite\nlogin_host: login.example.org\ndlg_root: /scratch/$USER/dlg\n"


def test_builtin_profiles() -> None:
    assert builtin_facilities() == ["local", "setonix"]
    setonix = load_facility("setonix")
    assert setonix.sbatch["clusters"] == "setonix"
    assert setonix.sbatch["account"] == "pawsey0411"
    assert setonix.modules == ["singularity/4.1.0-mpi", "py-mpi4py", "py-numpy"]
    assert load_facility("local").ports.node_manager == 18000


def test_a_sites_own_profile_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mysite.yaml"
    path.write_text(MINIMAL + "sbatch: {partition: gpu, time: '02:00:00'}\n")
    facility = load_facility(path)
    assert facility.name == "mysite"
    assert facility.sbatch == {"partition": "gpu", "time": "02:00:00"}
    assert facility.ports.island_manager == 8001


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("sbatch: {partition: 'work; rm -rf /'}", "sbatch.partition: not a valid comma-separated"),
        ("sbatch: {partiton: work}", "sbatch.partiton: Extra inputs are not permitted"),
        ("ports: {node_manager: 80}", "ports.node_manager: Input should be greater than or equal to 1024"),
        ('setup: ["source a\\nrm -rf /"]', "setup: one line each"),
        ("colour: blue", "colour: Extra inputs are not permitted"),
        ("max_queued: 0", "max_queued: Input should be greater than or equal to 1"),
    ],
)
def test_a_bad_profile_names_the_source_and_field(extra: str, message: str) -> None:
    with pytest.raises(FacilityError) as error:
        parse_facility(MINIMAL + extra + "\n", source="mysite.yaml")
    assert str(error.value).startswith("mysite.yaml: ")
    assert message in str(error.value)


def test_relative_dlg_root_and_missing_fields() -> None:
    with pytest.raises(FacilityError, match=r"dlg_root: an absolute path"):
        parse_facility("name: x\nlogin_host: h\ndlg_root: dlg\n", source="x.yaml")
    with pytest.raises(FacilityError, match=r"login_host: Field required"):
        parse_facility("name: x\ndlg_root: /d\n", source="x.yaml")


def test_unknown_name_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FacilityError, match=r"no facility 'gadi'; built in: local, setonix"):
        load_facility("gadi")
    with pytest.raises(FacilityError, match=r"cannot read"):
        load_facility(tmp_path / "missing.yaml")
    with pytest.raises(FacilityError, match=r"not YAML"):
        parse_facility("name: [", source="x.yaml")
