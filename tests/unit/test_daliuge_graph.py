"""Preparing a run's logical graph and bundle: pure functions, no DALiuGE needed."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from beampipe_provider.workflow.base import WorkflowError
from beampipe_provider.workflow.bundle import datasets_from
from beampipe_provider.workflow.daliuge.bundle import make_bundle, render_script
from beampipe_provider.workflow.daliuge.graph import GraphError, graph_sha256, load_graph, prepare_graph
from beampipe_provider.workflow.facility import load_facility

DEMO = Path(__file__).resolve().parents[2] / "dags" / "graphs" / "wallaby_hires_demo.graph"


def field(graph: dict, node: str, name: str) -> object:
    (n,) = [n for n in graph["nodeDataArray"] if n["name"] == node]
    return next(f["value"] for key in ("fields", "inputAppFields") for f in n.get(key, []) if f["name"] == name)


def test_inputs_scatter_and_gather_widths_and_overrides() -> None:
    graph = load_graph(DEMO)
    patched = prepare_graph(
        graph, inputs=["/a.tar", "/b.tar"], inputs_node="inputs", overrides={"summary.filepath": "/out/s.txt"}
    )
    assert json.loads(str(field(patched, "inputs", "pydata"))) == ["/a.tar", "/b.tar"]
    assert field(patched, "per_dataset", "num_of_copies") == 2
    assert field(patched, "all_datasets", "num_of_inputs") == 2
    assert field(patched, "summary", "filepath") == "/out/s.txt"
    assert field(graph, "per_dataset", "num_of_copies") == 1  # the survey's graph is untouched


def test_graph_hash_ignores_key_order_and_whitespace(tmp_path: Path) -> None:
    graph = load_graph(DEMO)
    shuffled = tmp_path / "g.graph"
    shuffled.write_text(json.dumps(dict(reversed(list(graph.items()))), indent=4))
    assert graph_sha256(load_graph(shuffled)) == graph_sha256(graph)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": [], "inputs_node": "inputs"}, "at least one input"),
        ({"inputs": ["/a"], "inputs_node": "nope"}, "node 'nope': not found; nodes: all_datasets, dataset_path"),
        ({"inputs": ["/a"], "inputs_node": "inputs", "overrides": {"summary.colour": 1}}, "no field 'colour'"),
        ({"inputs": ["/a"], "inputs_node": "inputs", "overrides": {"filepath": 1}}, "expected 'node.field'"),
    ],
)
def test_preparation_errors_name_the_node_and_field(kwargs: dict, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        prepare_graph(load_graph(DEMO), **kwargs)


def test_not_a_graph(tmp_path: Path) -> None:
    (tmp_path / "x.graph").write_text('{"nodes": []}')
    with pytest.raises(GraphError, match="no nodeDataArray"):
        load_graph(tmp_path / "x.graph")


def test_the_bundle_is_deterministic_and_carries_the_manifest() -> None:
    kwargs = {
        "run_key": "abc",
        "datasets": [{"dataset_id": "d1", "path": "/s/d1.tar"}],
        "parameters": {"summary.filepath": "{outputs}/s.txt", "note": 'it\'s "x"'},
        "inputs_node": "inputs",
        "outputs_dir": "/runs/abc/outputs",
    }
    one, two = make_bundle(load_graph(DEMO), **kwargs), make_bundle(load_graph(DEMO), **kwargs)
    assert one.digest == two.digest
    assert set(one.files) == {"logical.graph", "manifest.json", "dlg_job.py", "canonical.py", "bundle.json"}
    manifest = json.loads(one.files["manifest.json"])
    assert manifest["parameters"]["note"] == 'it\'s "x"'
    assert field(json.loads(one.files["logical.graph"]), "summary", "filepath") == "/runs/abc/outputs/s.txt"
    other = make_bundle(load_graph(DEMO), **{**kwargs, "datasets": [{"path": "/s/other.tar"}]})
    assert other.digest != one.digest


def test_datasets_from_a_staging_report_or_json() -> None:
    report = {"directory": "/scratch/abc", "files": [{"name": "a.tar", "size": 3, "sha256": "00"}]}
    assert datasets_from(report) == [
        {"dataset_id": "a.tar", "path": "/scratch/abc/a.tar", "name": "a.tar", "size": 3, "sha256": "00"}
    ]
    assert datasets_from(json.dumps([{"path": "/x"}])) == [{"path": "/x"}]
    with pytest.raises(WorkflowError, match="each with a 'path'"):
        datasets_from([{"name": "a"}])


def test_the_job_script_quotes_the_run_directory() -> None:
    script = render_script(load_facility("setonix"), "/scratch/p/u/dlg/runs/a b", timeout_s=60)
    lines = script.splitlines()
    assert lines[:2] == ["#!/bin/bash", "set -eo pipefail"]
    assert "module load singularity/4.1.0-mpi" in lines
    assert "cd '/scratch/p/u/dlg/runs/a b'" in lines
    assert shlex.split(lines[-1])[:3] == ["python3", "dlg_job.py", "--run-dir=/scratch/p/u/dlg/runs/a b"]
