"""A CWL run bundle in a real Slurm job on the local cluster: uploaded over SFTP, submitted with sbatch, cwltool run
by the in-job runner, outcome.json and inventory.json read back the way the operator reads them."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from beampipe_provider.scheduler.base import JobStatus
from beampipe_provider.scheduler.slurm import sbatch_options
from beampipe_provider.workflow.base import Outcome, RunBundle
from beampipe_provider.workflow.bundle import upload
from beampipe_provider.workflow.cwl.engine import CwlWorkflow
from beampipe_provider.workflow.facility import load_facility
from tests.slurm_cluster import LocalSlurm

DEMO = Path(__file__).resolve().parents[2] / "dags" / "workflows" / "wallaby_measure.cwl"
SLEEPER = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: [sleep, "{seconds}"]
inputs: {{datasets: "File[]"}}
outputs: []
"""


@dataclass
class Ran:
    status: JobStatus
    outcome: Outcome
    raw: dict[str, Any]
    run_dir: Path
    bundle: RunBundle


@pytest.fixture
def inputs() -> Iterator[list[Path]]:
    """Three small visibility tarballs the job's user can read (pytest's tmp_path is private to root)."""
    directory = Path("/tmp", f"beampipe-cwl-{uuid.uuid4().hex[:8]}")
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    paths = []
    for beam in range(3):
        member = directory / f"beam{beam}.txt"
        member.write_text(f"visibilities of beam {beam}\n" * (beam + 1))
        path = directory / f"HIPASSJ1318-21_A_beam{beam:02d}_10arc_split.ms.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(member, arcname=member.name)
            if beam == 2:
                tar.add(directory / "beam0.txt", arcname="flags.txt")  # two members: the count is read, not assumed
        path.chmod(0o644)
        paths.append(path)
    yield paths
    shutil.rmtree(directory)


def run_in_slurm(
    slurm: LocalSlurm, workflow: CwlWorkflow, paths: list[str], *, timeout_s: float = 240, cancel_when: str = ""
) -> Ran:
    """Upload, submit, wait for the end; with `cancel_when`, scancel the job once cwltool.log shows that text."""
    name = f"bp-cwl-test-{uuid.uuid4().hex[:12]}"
    run_dir = f"/home/{slurm.user}/dlg/test-runs/{name}"
    bundle = workflow.prepare(
        run_key=name, datasets=[{"dataset_id": Path(p).name, "path": p} for p in paths], parameters={}, run_dir=run_dir
    )
    client = slurm.connect()
    try:
        assert upload(client.open_sftp(), run_dir, bundle) == "uploaded"  # type: ignore[arg-type]
    finally:
        client.close()
    scheduler = slurm.scheduler()
    try:
        script = workflow.job_script(load_facility("local"), run_dir, timeout_s=timeout_s)
        options = sbatch_options(
            job_name=name, output=f"{run_dir}/slurm-%j.out", chdir=run_dir, time="00:10:00", within=run_dir
        )
        job = scheduler.submit(options, script)
        try:
            if cancel_when:
                wait_for_log(scheduler, f"{run_dir}/cwltool.log", cancel_when)
                scheduler.cancel([job.job_id])
            status = wait(scheduler, job.job_id)
        except AssertionError:
            scheduler.cancel([job.job_id])  # a test that gave up leaves no job behind on the shared cluster
            raise
        raw = json.loads(scheduler.read_text(f"{run_dir}/outcome.json"))
        inventory = json.loads(scheduler.read_text(f"{run_dir}/inventory.json"))
    finally:
        scheduler.close()
    return Ran(status, workflow.read_outcome(raw, inventory), raw, Path(run_dir), bundle)


def wait(scheduler: Any, job_id: str, timeout: float = 300) -> JobStatus:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status: JobStatus = scheduler.status([job_id])[job_id]
        if status.phase.terminal:
            return status
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {status.state} after {timeout} s")


def wait_for_log(scheduler: Any, path: str, text: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if text in scheduler.read_text(path):
                return
        except Exception:  # not there yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{path} never showed {text!r}")


def measure(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        members = len(tar.getnames())
    return [hashlib.sha256(path.read_bytes()).hexdigest(), str(path.stat().st_size), str(members), path.name]


def test_the_demo_measures_every_dataset_in_a_slurm_job_and_inventories_summary(
    slurm: LocalSlurm, inputs: list[Path]
) -> None:
    marker = f"pwned-{uuid.uuid4().hex[:8]}"
    hostile = inputs[0].with_name(f"x'; cd; touch {marker}; '$(cd; touch {marker}) `touch {marker}`.tar")
    shutil.copy(inputs[0], hostile)
    hostile.chmod(0o644)
    datasets = [*inputs, hostile]
    ran = run_in_slurm(slurm, CwlWorkflow(path=str(DEMO)), [str(p) for p in datasets])

    assert ran.outcome.ok, (ran.outcome.message, ran.outcome.failures)
    assert ran.status.phase.value == "SUCCEEDED"
    summary = ran.run_dir / "outputs" / "summary.txt"
    assert [line.split("  ") for line in summary.read_text().splitlines()] == [measure(p) for p in datasets]
    assert [p.path for p in ran.outcome.products] == [str(summary)]
    (product,) = ran.outcome.products
    assert product.sha256 == hashlib.sha256(summary.read_bytes()).hexdigest()
    assert product.size == summary.stat().st_size
    assert ran.outcome.engine["name"] == "cwl"
    assert ran.outcome.engine["version"].startswith("3.3.")
    assert ran.outcome.session_id == f"cwl-{ran.status.job_id}"
    assert ran.outcome.hashes == ran.bundle.hashes  # the job hashed the shipped document as the worker did
    assert ran.outcome.log_path == str(ran.run_dir / "cwltool.log")
    assert "Final process status is success" in Path(ran.outcome.log_path).read_text()
    assert {"run_s", "total_s"} <= set(ran.outcome.timings)
    assert not Path("/home", slurm.user, marker).exists()  # the hostile name was a name, in every step
    assert not list(Path("/tmp").glob(f"*{marker}*"))


def test_a_missing_input_fails_the_run_naming_the_step(slurm: LocalSlurm, inputs: list[Path]) -> None:
    missing = inputs[1].with_name("missing.ms.tar")
    ran = run_in_slurm(slurm, CwlWorkflow(path=str(DEMO)), [str(inputs[0]), str(missing), str(inputs[2])])

    assert not ran.outcome.ok
    assert ran.raw["state"] == "FAILED"
    assert ran.raw["exit_code"] == 1
    assert ran.status.phase.value == "FAILED"
    assert ran.status.exit_code == 1
    assert ran.outcome.message == "cwltool exited 1; failing steps: measure"
    (failure,) = ran.outcome.failures
    assert failure.startswith("measure: ")
    assert f"No such file or directory: '{missing}'" in failure
    assert ran.outcome.products == []


def test_a_workflow_over_its_time_is_stopped_with_its_tools(slurm: LocalSlurm, inputs: list[Path], tmp_path) -> None:
    sleeper = tmp_path / "sleeper.cwl"
    seconds = f"300.{uuid.uuid4().int % 10**6:06d}"  # this test's own tool, told apart from any other sleep
    sleeper.write_text(SLEEPER.format(seconds=seconds))
    started = time.monotonic()
    ran = run_in_slurm(slurm, CwlWorkflow(path=str(sleeper)), [str(inputs[0])], timeout_s=8)

    assert time.monotonic() - started < 120  # not the tool's 300 s
    assert not ran.outcome.ok
    assert ran.raw["state"] == "TIMEOUT"
    assert ran.raw["exit_code"] == 2
    assert ran.outcome.message == "cwltool still running after 8 s; stopped"
    left = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, text=True, check=False)
    assert left.returncode == 1, f"the tool outlived the job: {left.stdout}"  # pgrep: 1 when nothing matches


def test_scancel_stops_cwltool_and_its_tools_and_leaves_an_outcome(
    slurm: LocalSlurm, inputs: list[Path], tmp_path
) -> None:
    sleeper = tmp_path / "sleeper.cwl"
    seconds = f"300.{uuid.uuid4().int % 10**6:06d}"
    sleeper.write_text(SLEEPER.format(seconds=seconds))
    ran = run_in_slurm(slurm, CwlWorkflow(path=str(sleeper)), [str(inputs[0])], cancel_when="[job workflow.cwl] ")

    assert ran.status.phase.value == "CANCELLED"
    assert not ran.outcome.ok
    assert ran.raw["state"] == "CANCELLED"
    assert ran.outcome.message == "terminated by SIGTERM (scancel or the job's time limit)"
    left = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, text=True, check=False)
    assert left.returncode == 1, f"the tool outlived the job: {left.stdout}"
