"""A run's files on the facility, whatever the engine: the bundle's digest, its atomic upload, and the inputs.

The bundle is uploaded to the run directory through SFTP into a hidden directory that is then renamed into place,
so a reader never sees half a run. A run directory that already exists is reused when its bundle digest is the
same, and refused when it differs: two versions of one run are never mixed."""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from beampipe_provider.common.canonical import sha256_hex
from beampipe_provider.common.names import UnsafeName, input_path, path_component
from beampipe_provider.workflow.base import RunBundle, WorkflowError

BUNDLE = "bundle.json"


def run_bundle(run_key: str, content: Mapping[str, bytes], hashes: Mapping[str, str], **engine: str) -> RunBundle:
    """The bundle of `content` (file name -> bytes), with bundle.json (run key, digest, hashes, and what the engine's
    runner reads there) written last: upload writes in order, so a complete run directory has it."""
    files = dict(content)
    digest = sha256_hex({name: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    bundle = {"run_key": run_key, "digest": digest, "graph_sha256": dict(hashes), **engine}
    files[BUNDLE] = json.dumps(bundle, indent=1).encode()
    return RunBundle(files=files, digest=digest, hashes=dict(hashes))


def datasets_from(value: Any) -> list[dict[str, Any]]:
    """Inputs as dataset dicts with `path`: a list of such dicts, a StageOperator report ({"directory": ...,
    "files": [{"name", "archive_name", "size", "sha256"}]}), or either as JSON text (a rendered template).

    Every path reaches the workflow's commands (DALiuGE substitutes it into `bash -c`): each must be plain, its file
    name a local name (`common.names`), and a survey or source id a plain name; anything else is refused here."""
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
    try:
        for dataset in value:
            input_path("datasets: path", str(dataset["path"]))
            for field in ("survey", "source_id"):
                if dataset.get(field) is not None:
                    path_component(f"datasets: {field}", dataset[field])
    except UnsafeName as exc:
        raise WorkflowError(str(exc)) from None
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


def upload(sftp: Sftp, run_dir: str, bundle: RunBundle) -> str:
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


def _check_same(sftp: Sftp, run_dir: str, bundle: RunBundle) -> str:
    found = _existing_digest(sftp, run_dir)
    if found != bundle.digest:
        raise WorkflowError(
            f"{run_dir} already holds a different bundle (digest {found or 'missing'}, this run {bundle.digest}); "
            "refusing to mix two versions of one run"
        )
    return "reused"
