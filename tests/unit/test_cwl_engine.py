"""The CWL engine on the worker: real CWL documents become run bundles (or are refused naming the field), the batch
script quotes every value, the job's outcome reads back; the runner's reading of cwltool's log and output object."""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from beampipe_provider.common.canonical import sha256_hex
from beampipe_provider.workflow.base import WorkflowError, load_workflow
from beampipe_provider.workflow.cwl.engine import CwlWorkflow
from beampipe_provider.workflow.cwl.job import cwl_job
from beampipe_provider.workflow.facility import FacilityError, load_facility, parse_facility

DEMO = Path(__file__).resolve().parents[2] / "dags" / "workflows" / "wallaby_measure.cwl"
DATASETS = [{"dataset_id": "a", "path": "/data/a.tar"}, {"dataset_id": "b", "path": "/data/b.tar"}]
TOOL = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: [cat]
inputs:
  datasets: {type: "File[]", inputBinding: {position: 1}}
  label: string
outputs: {out: stdout}
"""


def prepare(workflow: CwlWorkflow, datasets: list[dict[str, str]] = DATASETS, **parameters: object):
    return workflow.prepare(run_key="k1", datasets=datasets, parameters=parameters, run_dir="/runs/k1")


def test_the_demo_is_a_bundle_with_the_datasets_as_files_and_bundle_json_last() -> None:
    workflow = load_workflow("cwl", str(DEMO))  # through the entry point, as the operator finds it
    bundle = prepare(workflow, note="hi")  # type: ignore[arg-type]
    assert list(bundle.files) == [
        "workflow.cwl",
        "inputs.json",
        "manifest.json",
        "cwl_job.py",
        "canonical.py",
        "bundle.json",
    ]
    order = json.loads(bundle.files["inputs.json"])
    assert order == {
        "datasets": [
            {"class": "File", "location": "file:///data/a.tar"},
            {"class": "File", "location": "file:///data/b.tar"},
        ]
    }
    manifest = json.loads(bundle.files["manifest.json"])
    assert manifest == {"run_key": "k1", "datasets": DATASETS, "parameters": {"note": "hi"}}
    shipped = json.loads(bundle.files["workflow.cwl"])  # YAML on the worker, JSON in the bundle
    assert shipped["cwlVersion"] == "v1.2"
    assert bundle.hashes == {"workflow": sha256_hex(shipped)}
    meta = json.loads(bundle.files["bundle.json"])
    assert meta["digest"] == bundle.digest
    assert meta["graph_sha256"] == bundle.hashes
    assert meta["target"] == "workflow.cwl"
    assert b"from canonical import sha256_hex" in bundle.files["cwl_job.py"]
    assert (
        bundle.files["canonical.py"] == Path(cwl_job.__file__).parents[3].joinpath("common/canonical.py").read_bytes()
    )


def test_the_digest_is_stable_and_changes_with_what_runs() -> None:
    first = prepare(CwlWorkflow(path=str(DEMO)))
    assert prepare(CwlWorkflow(path=str(DEMO))).digest == first.digest
    assert prepare(CwlWorkflow(path=str(DEMO)), DATASETS[:1]).digest != first.digest
    assert prepare(CwlWorkflow(path=str(DEMO)), note="other").digest != first.digest  # the manifest is in it


def test_parameters_that_are_inputs_go_into_the_job_order(tmp_path: Path) -> None:
    path = tmp_path / "tool.cwl"
    path.write_text(TOOL)
    bundle = prepare(CwlWorkflow(path=str(path)), label="HIPASS J1318-21", note="only in the manifest")
    order = json.loads(bundle.files["inputs.json"])
    assert order["label"] == "HIPASS J1318-21"
    assert "note" not in order
    assert json.loads(bundle.files["manifest.json"])["parameters"]["note"] == "only in the manifest"
    fixed = prepare(CwlWorkflow(path=str(path), inputs={"label": "survey default"}))
    assert json.loads(fixed.files["inputs.json"])["label"] == "survey default"
    with pytest.raises(WorkflowError, match=r"inputs colour: not inputs of the workflow"):
        prepare(CwlWorkflow(path=str(path), inputs={"colour": "blue"}))
    with pytest.raises(WorkflowError, match=r"datasets: receives the run's datasets"):
        CwlWorkflow(path=str(path)).prepare(run_key="k", datasets=DATASETS, parameters={"datasets": []}, run_dir="/r")


def test_any_file_name_survives_as_a_file_uri() -> None:
    hostile = "/data/x'; touch /tmp/pwned-$$; '#1 %20.tar"
    bundle = prepare(CwlWorkflow(path=str(DEMO)), [{"path": hostile}])
    (location,) = [f["location"] for f in json.loads(bundle.files["inputs.json"])["datasets"]]
    assert not {" ", "#", "'", ";"} & set(location)
    assert urllib.parse.unquote(urllib.parse.urlparse(location).path) == hostile


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cwlVersion: [v1.2\n", "not YAML or JSON"),
        ("- just a list\n", "not a CWL document"),
        ('class: Workflow\ninputs: {datasets: "File[]"}\n', "cwlVersion: missing; not a CWL document"),
        (
            'cwlVersion: v1.2\nclass: Workflow\ninputs: {files: "File[]"}\n',
            "inputs.datasets: no such input of the workflow (its inputs: files)",
        ),
        (
            "cwlVersion: v1.2\nclass: Workflow\ninputs: {datasets: File}\n",
            "inputs.datasets: type 'File', expected File[]",
        ),
        (
            'cwlVersion: v1.2\nclass: Workflow\ninputs:\n  - {id: datasets, type: "string[]"}\n',
            "inputs.datasets: type 'string[]'",
        ),
        (
            "cwlVersion: v1.2\n$graph: [{id: a, class: CommandLineTool}, {id: b, class: CommandLineTool}]\n",
            "$graph: no process with id main",
        ),
        (
            'cwlVersion: v1.2\nclass: Workflow\ninputs: {datasets: "File[]"}\nsteps: {s: {run: ../x.cwl}}\n',
            "only documents beside the workflow",
        ),
    ],
)
def test_a_document_that_cannot_run_is_refused_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.cwl"
    path.write_text(text)
    with pytest.raises(WorkflowError) as error:
        prepare(CwlWorkflow(path=str(path)))
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_other_input_names_and_forms_and_documents_run_by_path(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "cat.cwl").write_text(TOOL)
    (tmp_path / "wf.cwl").write_text(
        "cwlVersion: v1.2\n$graph:\n  - id: measure\n    class: Workflow\n"
        "    inputs:\n      - {id: '#measure/cubes', type: {type: array, items: File}}\n"
        "    steps: {cat: {run: tools/cat.cwl}}\n"
    )
    bundle = prepare(CwlWorkflow(path=str(tmp_path / "wf.cwl"), input_name="cubes"))
    assert json.loads(bundle.files["run__tools__cat.cwl"])["baseCommand"] == ["cat"]
    steps = json.loads(bundle.files["workflow.cwl"])["$graph"][0]["steps"]
    assert steps["cat"]["run"] == "run__tools__cat.cwl"  # the bundle is one directory
    assert json.loads(bundle.files["bundle.json"])["target"] == "workflow.cwl#measure"  # no `main`: named
    assert set(bundle.hashes) == {"workflow", "workflow:run__tools__cat.cwl"}
    assert len(json.loads(bundle.files["inputs.json"])["cubes"]) == 2


def test_the_script_sets_up_cwl_and_quotes_a_hostile_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run '; touch pwned; ' $(touch pwned) `touch pwned`"
    run_dir.mkdir()
    script = CwlWorkflow(path=str(DEMO)).job_script(load_facility("local"), str(run_dir), timeout_s=90.5)
    lines = script.splitlines()
    assert lines[:3] == ["#!/bin/bash", "set -eo pipefail", "source /var/lib/beampipe-slurm/cwl-venv/bin/activate"]
    assert shlex.split(lines[-1]) == [
        "exec",
        "python3",
        "cwl_job.py",
        f"--run-dir={run_dir}",
        "--timeout=90",
        "--cwltool=cwltool",
    ]
    cd = next(line for line in lines if line.startswith("cd "))
    shell = subprocess.run(["bash", "-c", f"{cd} && pwd"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == str(run_dir)
    assert sorted(p.name for p in tmp_path.rglob("*")) == [run_dir.name]  # nothing touched


def test_a_sites_cwl_setup_and_executable_and_a_bad_one() -> None:
    base = "name: s\nlogin_host: h\ndlg_root: /d\nmodules: [cray-python]\n"
    site = parse_facility(
        base + "engines: {cwl: {setup: ['. /opt/cwl/env'], executable: /opt/cwl/bin/cwltool}}\n", source="s"
    )
    script = CwlWorkflow(path=str(DEMO)).job_script(site, "/runs/k", timeout_s=60)
    assert script.splitlines()[2:4] == ["module load cray-python", ". /opt/cwl/env"]
    assert "--cwltool=/opt/cwl/bin/cwltool" in script
    assert "cwl-venv" not in CwlWorkflow(path=str(DEMO)).job_script(parse_facility(base, source="s"), "/r", timeout_s=1)
    with pytest.raises(FacilityError, match=r"engines.cwl.setup: one line each"):
        parse_facility(base + 'engines: {cwl: {setup: ["a\\nrm -rf /"]}}\n', source="s")
    with pytest.raises(FacilityError, match=r"engines.cwl.colour: Extra inputs are not permitted"):
        parse_facility(base + "engines: {cwl: {colour: blue}}\n", source="s")


def test_an_outcome_reads_back_with_its_failures_and_products() -> None:
    workflow = CwlWorkflow(path=str(DEMO))
    product = {"path": "/runs/k/outputs/summary.txt", "size": 3, "sha256": "ab" * 32}
    done = {
        "state": "SUCCEEDED",
        "exit_code": 0,
        "message": "cwltool: success; 1 products",
        "log": "/runs/k/cwltool.log",
        "engine": {"name": "cwl", "version": "3.3.1"},
        "session_id": "cwl-7",
        "graph_sha256": {"workflow": "c" * 64},
    }
    outcome = workflow.read_outcome(done, [product])
    assert outcome.ok
    assert (outcome.engine, outcome.session_id, outcome.log_path) == (
        {"name": "cwl", "version": "3.3.1"},
        "cwl-7",
        "/runs/k/cwltool.log",
    )
    assert outcome.hashes == {"workflow": "c" * 64}
    assert [p.path for p in outcome.products] == [product["path"]]
    failed = done | {"state": "FAILED", "exit_code": 1, "failing_steps": [{"step": "measure", "error": "No such file"}]}
    outcome = workflow.read_outcome(failed, [])
    assert not outcome.ok
    assert outcome.failures == ["measure: No such file"]
    assert not workflow.read_outcome(done | {"exit_code": 2}, []).ok


LOG = """INFO /venv/bin/cwltool 3.3.20260925135507
INFO [workflow ] start
INFO [workflow ] starting step measure
INFO [step measure] start
INFO [job measure] /tmp/a$ bash \\
    -c \\
    'exit 0' \\
    /data/a.tar > /tmp/a/measurement.txt
INFO [job measure] completed success
INFO [step measure] start
INFO [job measure_2] /tmp/b$ bash \\
    -c \\
    'exit 3' \\
    /data/b.tar > /tmp/b/measurement.txt
sha256sum: /data/b.tar: Permission denied
WARNING [job measure_2] exited with status: 3
WARNING [job measure_2] completed permanentFail
ERROR Unexpected exception
Traceback (most recent call last):
  File "x.py", line 1
ERROR Workflow cannot make any more progress.
WARNING Final process status is permanentFail
"""


def test_the_runner_names_the_failing_step_with_the_tools_error_from_cwltools_log() -> None:
    assert cwl_job.failing_steps(LOG) == [
        {"step": "measure", "error": "sha256sum: /data/b.tar: Permission denied\n[job measure_2] exited with status: 3"}
    ]
    assert cwl_job.failing_steps(LOG.replace("permanentFail", "success")) == []


def test_an_error_that_stops_a_scatter_names_its_step() -> None:
    log = """INFO [workflow ] starting step measure
INFO [step measure] start
INFO [job measure] completed success
INFO [step measure] start
ERROR Unexpected exception
Traceback (most recent call last):
FileNotFoundError: [Errno 2] No such file or directory: '/data/missing.tar'
ERROR Cannot make scatter job: inputs.json:9:4: [Errno 2] No such file or directory: '/data/missing.tar'
ERROR Workflow cannot make any more progress.
WARNING Final process status is permanentFail
"""
    assert cwl_job.failing_steps(log) == [
        {
            "step": "measure",
            "error": "Cannot make scatter job: inputs.json:9:4: [Errno 2] No such file or directory: "
            "'/data/missing.tar'",
        }
    ]


def test_the_runner_inventories_every_file_of_the_output_object_and_checks_cwltools_sha1(tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    for name, text in [("a.txt", "a"), ("a.txt.idx", "i"), ("dir/sub/c.txt", "c"), ("b.txt", "b")]:
        (tmp_path / name).write_text(text)
    a_sha1 = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"  # sha1 of "a"
    output = {
        "main": {
            "class": "File",
            "path": str(tmp_path / "a.txt"),
            "checksum": f"sha1${a_sha1}",
            "secondaryFiles": [{"class": "File", "location": (tmp_path / "a.txt.idx").as_uri()}],
        },
        "many": [[{"class": "File", "path": str(tmp_path / "b.txt")}], None],
        "dir": {"class": "Directory", "path": str(tmp_path / "dir")},
    }
    products, problems = cwl_job.inventory(output)
    assert problems == []
    assert [p["path"] for p in products] == sorted(
        str(tmp_path / n) for n in ["a.txt", "a.txt.idx", "dir/sub/c.txt", "b.txt"]
    )
    assert products[0]["sha256"] == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"  # sha256 of "a"
    output["main"]["checksum"] = "sha1$" + "0" * 40
    _, problems = cwl_job.inventory(output)
    assert problems == [f"output {tmp_path / 'a.txt'}: sha1 {a_sha1}, cwltool reported sha1${'0' * 40}"]
