"""A CWL document on the worker: read, checked for what a run needs, and collected with the files it runs.

cwltool is not installed on the worker, so this reads the document itself (YAML or JSON) and checks only what the
bundle relies on: a `cwlVersion`, the process cwltool will run, and the input that receives the datasets. Every
file goes into the bundle as JSON (a CWL document may be JSON), so the stdlib-only runner in the job can hash it with
the same canonical JSON as the worker."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from beampipe_provider.workflow.base import WorkflowError

FILE_ARRAY = "File[]"
MAIN = "workflow.cwl"


@dataclass(frozen=True)
class Document:
    """The main document (workflow.cwl in the bundle) and every document its steps `run` by path."""

    content: dict[str, Any]
    target: str  # what cwltool is given: workflow.cwl, with #id when the file holds a $graph without `main`
    inputs: dict[str, Any]  # the process's inputs by id: their types
    others: dict[str, dict[str, Any]]  # name in the bundle -> content


def load_document(path: str | Path, *, input_name: str) -> Document:
    """Raises WorkflowError naming the file and the field when the document cannot run a beampipe run."""
    main = Path(path)
    content = _read(main)
    if "cwlVersion" not in content:
        raise WorkflowError(f"{main}: cwlVersion: missing; not a CWL document")
    process, fragment = _main_process(main, content)
    inputs = _inputs(main, process)
    if input_name not in inputs:
        known = ", ".join(sorted(inputs)) or "none"
        raise WorkflowError(f"{main}: inputs.{input_name}: no such input of the workflow (its inputs: {known})")
    if not _is_file_array(inputs[input_name]):
        raise WorkflowError(
            f"{main}: inputs.{input_name}: type {inputs[input_name]!r}, expected {FILE_ARRAY} (an array of File)"
        )
    others: dict[str, dict[str, Any]] = {}
    _collect_runs(main.parent, content, "", others, main)
    return Document(
        content=content,
        target=MAIN + (f"#{fragment}" if fragment else ""),
        inputs=inputs,
        others=others,
    )


def shipped_name(relative: str) -> str:
    """A document's name in the bundle: tools/cat.cwl -> run__tools__cat.cwl."""
    return "run__" + relative.replace("/", "__")


def as_json(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, indent=1, ensure_ascii=False).encode()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        content = yaml.safe_load(text)
        json.dumps(content, allow_nan=False)  # a value JSON has no form for (a YAML date, a set) cannot be shipped
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{path}: not YAML or JSON: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise WorkflowError(f"{path}: holds a value JSON cannot express: {exc}") from None
    if not isinstance(content, dict):
        raise WorkflowError(f"{path}: not a CWL document (a YAML or JSON object with cwlVersion)")
    return content


def _id(entry: Mapping[str, Any]) -> str:
    return str(entry.get("id", "")).lstrip("#").rsplit("/", 1)[-1]


def _main_process(path: Path, content: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The process cwltool runs, and the fragment to name it by: `main` in a $graph needs none (cwltool's default)."""
    graph = content.get("$graph")
    if graph is None:
        return content, None
    if not isinstance(graph, list) or not all(isinstance(p, dict) for p in graph):
        raise WorkflowError(f"{path}: $graph: expected a list of processes")
    by_id = {_id(p): p for p in graph}
    if "main" in by_id:
        return by_id["main"], None
    workflows = [p for p in graph if p.get("class") == "Workflow"]
    if len(workflows) == 1:
        return workflows[0], _id(workflows[0])
    raise WorkflowError(f"{path}: $graph: no process with id main, and not exactly one Workflow")


def _inputs(path: Path, process: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as id -> type, from either CWL form: a list of {id, type} or a map of id -> type or {type}."""
    raw = process.get("inputs", [])
    if isinstance(raw, list):
        pairs = [(_id(i), i.get("type")) for i in raw if isinstance(i, dict)]
    elif isinstance(raw, dict):
        pairs = [(str(k), v.get("type") if isinstance(v, dict) else v) for k, v in raw.items()]
    else:
        raise WorkflowError(f"{path}: inputs: expected a list or a map of inputs")
    return dict(pairs)


def _is_file_array(type_: Any) -> bool:
    if type_ == FILE_ARRAY:
        return True
    return isinstance(type_, dict) and type_.get("type") == "array" and type_.get("items") in ("File", "#File")


def _collect_runs(base: Path, node: Any, here: str, found: dict[str, dict[str, Any]], source: Path) -> None:
    """Every document a step `run`s by relative path, recursively, by its name in the bundle; each `run` is
    rewritten to that name (upload places files in one directory)."""
    if isinstance(node, list):
        for item in node:
            _collect_runs(base, item, here, found, source)
        return
    if not isinstance(node, dict):
        return
    run = node.get("run")
    if isinstance(run, str) and not run.startswith("#"):
        relative = posixpath.normpath(posixpath.join(here, run.split("#", 1)[0]))
        if run.startswith("/") or "://" in run or relative.startswith(".."):
            raise WorkflowError(
                f"{source}: run: {run!r}: only documents beside the workflow or below it can be shipped"
            )
        flat = shipped_name(relative)
        node["run"] = flat + run[len(run.split("#", 1)[0]) :]  # the bundle is one flat directory; #id kept
        if flat not in found:
            content = _read(base / relative)
            found[flat] = content
            _collect_runs(base, content, posixpath.dirname(relative), found, base / relative)
    for key, value in node.items():
        if key != "run" or isinstance(value, dict | list):
            _collect_runs(base, value, here, found, source)
