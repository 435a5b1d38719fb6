"""A run's files for the facility, the directory they go to, and the batch script that runs them.

The bundle (patched logical graph, manifest, the in-job runner) is uploaded to `{dlg_root}/runs/{run_key}/`
through SFTP into a hidden directory that is then renamed into place, so a reader never sees half a run. A run
directory that already exists is reused when its bundle digest is the same, and refused when it differs: two
versions of one run are never mixed."""

from __future__ import annotations

import hashlib
import json
import posixpath
import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Protocol

from beampipe_provider.common.canonical import sha256_hex
from beampipe_provider.workflow.daliuge.graph import graph_sha256, prepare_graph
from beampipe_provider.workflow.facility import Facility

RUNNER = "dlg_job.py"
BUNDLE = "bundle.json"


class WorkflowError(RuntimeError):
    """A run that cannot be prepared or placed; says why."""


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]
    digest: str
    hashes: dict[str, str]  # logical, patched: sha256 of the canonical graphs


def make_bundle(
    graph: Mapping[str, Any],
    *,
    run_key: str,
    datasets: Sequence[Mapping[str, Any]],
    parameters: Mapping[str, Any],
    inputs_node: str,
    outputs_dir: str,
) -> Bundle:
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
    }
    hashes = {"logical": graph_sha256(graph), "patched": graph_sha256(patched)}
    digest = sha256_hex({name: hashlib.sha256(data).hexdigest() for name, data in content.items()})
    content[BUNDLE] = json.dumps({"run_key": run_key, "digest": digest, "graph_sha256": hashes}, indent=1).encode()
    return Bundle(files=content, digest=digest, hashes=hashes)


def datasets_from(value: Any) -> list[dict[str, Any]]:
    """Inputs as dataset dicts with `path`: a list of such dicts, a CasdaStageOperator report ({"directory": ...,
    "files": [{"name", "size", "sha256"}]}), or either as JSON text (a rendered template)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise WorkflowError("datasets: not JSON, a list of datasets or a staging report") from None
    if isinstance(value, dict) and "files" in value:
        directory = str(value["directory"])
        value = [{"dataset_id": f["name"], "path": posixpath.join(directory, f["name"]), **f} for f in value["files"]]
    if not isinstance(value, list) or not all(isinstance(d, dict) and d.get("path") for d in value):
        raise WorkflowError("datasets: expected a list of objects each with a 'path'")
    return [dict(d) for d in value]


class Sftp(Protocol):
    """What upload needs of paramiko's SFTPClient."""

    def stat(self, path: str) -> Any: ...

    def mkdir(self, path: str, mode: int = 511) -> None: ...

    def open(self, filename: str, mode: str = "r", bufsize: int = -1) -> Any: ...

    def posix_rename(self, oldpath: str, newpath: str) -> None: ...


def _exists(sftp: Sftp, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _makedirs(sftp: Sftp, path: str) -> None:
    parts = [p for p in path.split("/") if p]
    current = ""
    for part in parts:
        current += "/" + part
        if not _exists(sftp, current):
            sftp.mkdir(current)


def _existing_digest(sftp: Sftp, run_dir: str) -> str | None:
    try:
        with sftp.open(posixpath.join(run_dir, BUNDLE)) as f:
            return str(json.loads(f.read())["digest"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def upload(sftp: Sftp, run_dir: str, bundle: Bundle) -> str:
    """Place the bundle at `run_dir` atomically. Returns "uploaded" or "reused"; raises WorkflowError if a different
    bundle is already there."""
    if _exists(sftp, run_dir):
        return _check_same(sftp, run_dir, bundle)
    parent, name = posixpath.split(run_dir)
    _makedirs(sftp, parent)
    staging = posixpath.join(parent, f".{name}.{uuid.uuid4().hex[:8]}.partial")
    sftp.mkdir(staging)
    for file_name, data in bundle.files.items():  # bundle.json is last: a complete directory has it
        with sftp.open(posixpath.join(staging, file_name), "wb") as f:
            f.write(data)
    try:
        sftp.posix_rename(staging, run_dir)
    except OSError:
        if _exists(sftp, run_dir):  # another attempt placed it first
            return _check_same(sftp, run_dir, bundle)
        raise
    return "uploaded"


def _check_same(sftp: Sftp, run_dir: str, bundle: Bundle) -> str:
    found = _existing_digest(sftp, run_dir)
    if found != bundle.digest:
        raise WorkflowError(
            f"{run_dir} already holds a different bundle (digest {found or 'missing'}, this run {bundle.digest}); "
            "refusing to mix two versions of one run"
        )
    return "reused"


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
