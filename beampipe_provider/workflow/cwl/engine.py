"""The CWL engine: a CWL document and its job order as a run bundle, the batch script that runs cwltool on it in the
job (job/cwl_job.py), and the outcome that runner leaves.

The run directory holds, besides outcome.json and inventory.json once the job ends:
    workflow.cwl          the CWL document, as JSON          inputs.json    the job order: datasets as CWL Files
    run__<path>           documents its steps run by path
    manifest.json         run_key, datasets, parameters      cwl_job.py     the runner, and canonical.py it imports
    bundle.json           run_key, digest, hashes, the document cwltool runs (written last)
    cwltool.log           cwltool's stderr                   outputs/       the products"""

from __future__ import annotations

import json
import shlex
import urllib.parse
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from beampipe_provider.common.canonical import sha256_hex
from beampipe_provider.workflow.base import Outcome, Product, RunBundle, WorkflowError
from beampipe_provider.workflow.bundle import run_bundle
from beampipe_provider.workflow.cwl.document import MAIN, as_json, load_document

if TYPE_CHECKING:
    from beampipe_provider.workflow.facility import Facility

ENGINE = "cwl"
RUNNER = "cwl_job.py"
CANONICAL = "canonical.py"
DEFAULT_CWLTOOL = "cwltool"


def file_object(path: str) -> dict[str, str]:
    """A dataset as a CWL File: its location a file:// URI, so any character of its name survives."""
    return {"class": "File", "location": "file://" + urllib.parse.quote(path, safe="/")}


class CwlWorkflow:
    """A CWL document on the worker, run by cwltool with `--no-container` in the job.

    `inputs`: further CWL inputs fixed by the survey; `input_name`: the workflow input (an array of File) that
    receives the run's datasets. Parameters whose key is an input of the workflow go into the job order too."""

    engine = ENGINE

    def __init__(self, *, path: str, inputs: Mapping[str, Any] | None = None, input_name: str = "datasets") -> None:
        self.path = path
        self.inputs = dict(inputs or {})
        self.input_name = input_name

    def prepare(
        self, *, run_key: str, datasets: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any], run_dir: str
    ) -> RunBundle:
        document = load_document(self.path, input_name=self.input_name)
        job_order = self._job_order(document.inputs, datasets, parameters)
        manifest = {"run_key": run_key, "datasets": [dict(d) for d in datasets], "parameters": dict(parameters)}
        content = {MAIN: as_json(document.content)}
        content |= {name: as_json(doc) for name, doc in sorted(document.others.items())}
        content |= {
            "inputs.json": json.dumps(job_order, indent=1, ensure_ascii=False).encode(),
            "manifest.json": json.dumps(manifest, indent=1, sort_keys=True).encode(),
            RUNNER: files(__package__).joinpath("job", RUNNER).read_bytes(),
            CANONICAL: files("beampipe_provider.common").joinpath(CANONICAL).read_bytes(),
        }
        hashes = {"workflow": sha256_hex(document.content)}
        hashes |= {f"workflow:{name}": sha256_hex(doc) for name, doc in sorted(document.others.items())}
        return run_bundle(run_key, content, hashes, workflow=MAIN, target=document.target)

    def _job_order(
        self, declared: Mapping[str, Any], datasets: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        unknown = sorted(set(self.inputs) - set(declared))
        if unknown:
            raise WorkflowError(f"{self.path}: inputs {', '.join(unknown)}: not inputs of the workflow")
        if self.input_name in self.inputs or self.input_name in parameters:
            raise WorkflowError(f"{self.input_name}: receives the run's datasets; it cannot also be set as an input")
        order = dict(self.inputs) | {k: v for k, v in parameters.items() if k in declared}
        order[self.input_name] = [file_object(str(d["path"])) for d in datasets]
        return order

    def job_script(self, facility: Facility, run_dir: str, *, timeout_s: float) -> str:
        """Modules, the site's CWL setup lines (trusted like the profile itself), then the runner in `run_dir`.
        `run_dir` is used as given (quoted): expand shell variables such as $HOME before."""
        setup = facility.engine(ENGINE)
        lines = ["#!/bin/bash", "set -eo pipefail"]
        lines += [f"module load {shlex.quote(m)}" for m in facility.modules]
        lines += setup.setup
        argv = [
            facility.python,
            RUNNER,
            f"--run-dir={run_dir}",
            f"--timeout={int(timeout_s)}",
            f"--cwltool={setup.executable or DEFAULT_CWLTOOL}",
        ]
        lines += [f"cd {shlex.quote(run_dir)}", "exec " + shlex.join(argv)]  # exec: scancel's SIGTERM reaches it
        return "\n".join(lines) + "\n"

    def read_outcome(self, outcome: Mapping[str, Any], inventory: Sequence[Mapping[str, Any]]) -> Outcome:
        steps = [s for s in outcome.get("failing_steps") or [] if isinstance(s, Mapping)]
        return Outcome(
            ok=outcome.get("state") == "SUCCEEDED" and outcome.get("exit_code") == 0,
            message=str(outcome.get("message") or f"no message (state {outcome.get('state')})"),
            engine={str(k): str(v) for k, v in (outcome.get("engine") or {"name": ENGINE}).items()},
            session_id=outcome.get("session_id"),
            hashes={str(k): str(v) for k, v in (outcome.get("graph_sha256") or {}).items()},
            timings=dict(outcome.get("timings") or {}),
            failures=[f"{s.get('step')}: {s.get('error') or 'failed'}" for s in steps],
            log_path=outcome.get("log"),
            products=[Product(path=str(p["path"]), size=int(p["size"]), sha256=str(p["sha256"])) for p in inventory],
            raw=dict(outcome),
        )
