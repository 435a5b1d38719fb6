"""DALiuGE's run files: the patched logical graph, the manifest, the in-job runner, and the batch script that runs
them (see `workflow/bundle.py` for how a bundle is placed on the facility)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from beampipe_provider.workflow.base import RunBundle
from beampipe_provider.workflow.bundle import run_bundle
from beampipe_provider.workflow.daliuge.graph import graph_sha256, prepare_graph
from beampipe_provider.workflow.facility import Facility

RUNNER = "dlg_job.py"
CANONICAL = "canonical.py"  # common/canonical.py, imported by the runner from the run directory


def make_bundle(
    graph: Mapping[str, Any],
    *,
    run_key: str,
    datasets: Sequence[Mapping[str, Any]],
    parameters: Mapping[str, Any],
    inputs_node: str,
    outputs_dir: str,
) -> RunBundle:
    """`datasets`: dicts with at least `path` (on the facility) and, when known, `dataset_id`, `size`, `sha256`.
    `parameters`: "node.field" keys override graph fields ({outputs} expands to the run's outputs directory);
    every parameter is also in manifest.json for the apps."""
    paths = [str(d["path"]) for d in datasets]
    overrides = {
        k: v.replace("{outputs}", outputs_dir) if isinstance(v, str) else v for k, v in parameters.items() if "." in k
    }
    patched = prepare_graph(graph, inputs=paths, inputs_node=inputs_node, overrides=overrides)
    manifest = {"run_key": run_key, "datasets": [dict(d) for d in datasets], "parameters": dict(parameters)}
    content = {
        "logical.graph": json.dumps(patched, indent=1).encode(),
        "manifest.json": json.dumps(manifest, indent=1, sort_keys=True).encode(),
        RUNNER: files(__package__).joinpath("job", RUNNER).read_bytes(),
        CANONICAL: files("beampipe_provider.common").joinpath("canonical.py").read_bytes(),
    }
    return run_bundle(run_key, content, {"logical": graph_sha256(graph), "patched": graph_sha256(patched)})


def render_script(facility: Facility, run_dir: str, *, timeout_s: float) -> str:
    """The batch script: load modules, set up DALiuGE, then run the in-job runner in the run directory."""
    lines = ["#!/bin/bash", "set -eo pipefail"]
    lines += [f"module load {shlex.quote(m)}" for m in facility.modules]
    lines += facility.setup  # the site's own lines (venv activation), trusted like the profile itself
    lines += [
        'export USER="${USER:-$(id -un)}"  # DALiuGE fails to import without it',
        f"cd {shlex.quote(run_dir)}",
        shlex.join(
            [
                facility.python,
                RUNNER,
                f"--run-dir={run_dir}",
                f"--nm-port={facility.ports.node_manager}",
                f"--dim-port={facility.ports.island_manager}",
                f"--timeout={int(timeout_s)}",
            ]
        ),
    ]
    return "\n".join(lines) + "\n"
