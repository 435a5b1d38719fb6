"""What every workflow engine offers (DALiuGE first, CWL second), and how one is found by name.

An engine is a module registered under the entry point group `beampipe.workflows`. The operator never knows which
engine it runs: it asks the engine for a run bundle (files for the run directory), for the batch script that runs
the bundle, and for the outcome the job left behind. Every engine's job writes the same two files, atomically, in
the run directory:

    outcome.json    {"state", "message", "exit_code", "engine": {"name", "version"}, "session_id", "graph_sha256",
                     "timings", ...engine's own detail}
    inventory.json  [{"path", "size", "sha256"}, ...] of every product under outputs/

Core code: no Airflow here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from beampipe_provider.workflow.facility import Facility

ENTRY_POINT_GROUP = "beampipe.workflows"
OUTCOME = "outcome.json"
INVENTORY = "inventory.json"


class WorkflowError(RuntimeError):
    """A run that cannot be prepared, placed or read back; says why."""


@dataclass(frozen=True)
class RunBundle:
    """The files of one run's directory. `digest` identifies the bundle: a directory holding another digest is
    another version of the run and is never mixed with this one."""

    files: dict[str, bytes]
    digest: str
    hashes: dict[str, str]  # what provenance records of the workflow itself, e.g. logical/patched graph sha256


@dataclass(frozen=True)
class Product:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Outcome:
    """What the job says happened, read from outcome.json and inventory.json."""

    ok: bool
    message: str
    engine: dict[str, str] = field(default_factory=dict)  # name, version
    session_id: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # one line per failing drop or step, the first cause first
    log_path: str | None = None  # the engine's own log on the facility, whose tail explains a failure
    products: list[Product] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # outcome.json as written


class Workflow(Protocol):
    """One workflow (a DALiuGE logical graph, a CWL document) as an engine runs it."""

    engine: str  # the entry point name: daliuge, cwl

    def prepare(
        self, *, run_key: str, datasets: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any], run_dir: str
    ) -> RunBundle:
        """The run's files. `datasets`: dicts with at least `path` (on the facility) and, when known,
        `dataset_id`, `size`, `sha256`. Raises WorkflowError naming what is wrong."""
        ...

    def job_script(self, facility: Facility, run_dir: str, *, timeout_s: float) -> str:
        """The batch script that runs the bundle in `run_dir` and writes outcome.json and inventory.json."""
        ...

    def read_outcome(self, outcome: Mapping[str, Any], inventory: Sequence[Mapping[str, Any]]) -> Outcome: ...


def load_workflow(engine: str, path: str, **options: Any) -> Workflow:
    """The workflow at `path` (on the worker) for the engine registered under `engine`."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if engine not in found:
        raise LookupError(f"no workflow engine {engine!r}; installed: {', '.join(sorted(found)) or 'none'}")
    workflow: Workflow = found[engine].load()(path=path, **options)
    return workflow
