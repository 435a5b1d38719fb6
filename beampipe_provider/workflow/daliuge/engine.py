"""DALiuGE as a `Workflow`: a logical graph (EAGLE's .graph JSON) prepared per run, run by the in-job runner."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from beampipe_provider.workflow.base import Outcome, Product, RunBundle, Workflow, WorkflowError
from beampipe_provider.workflow.daliuge.bundle import make_bundle, render_script
from beampipe_provider.workflow.daliuge.graph import GraphError, load_graph
from beampipe_provider.workflow.facility import Facility


class DaliugeWorkflow:
    """`path`: the survey's logical graph on the worker; `inputs_node`: the node that receives the input paths."""

    engine = "daliuge"

    def __init__(self, *, path: str, inputs_node: str = "inputs") -> None:
        self.path = path
        self.inputs_node = inputs_node

    def prepare(
        self, *, run_key: str, datasets: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any], run_dir: str
    ) -> RunBundle:
        try:
            return make_bundle(
                load_graph(self.path),
                run_key=run_key,
                datasets=datasets,
                parameters=parameters,
                inputs_node=self.inputs_node,
                outputs_dir=posixpath.join(run_dir, "outputs"),
            )
        except GraphError as exc:
            raise WorkflowError(str(exc)) from None

    def job_script(self, facility: Facility, run_dir: str, *, timeout_s: float) -> str:
        return render_script(facility, run_dir, timeout_s=timeout_s)

    def read_outcome(self, outcome: Mapping[str, Any], inventory: Sequence[Mapping[str, Any]]) -> Outcome:
        """The runner's outcome.json: the session's end and its failing drops, the apps that failed on their own
        first (with their error lines), then the drops that failed because of them."""
        failures = []
        for drop in outcome.get("failing_drops", []):
            failures.append(
                f"drop {drop['name']} ({drop['oid']}): {drop['state']} {drop.get('app_state', '')}".rstrip()
            )
            if drop.get("error"):
                failures.append("  " + drop["error"].strip().replace("\n", "\n  ")[-1000:])
        return Outcome(
            ok=outcome.get("state") == "FINISHED"
            and not outcome.get("failing_drops")
            and outcome.get("exit_code") == 0,
            message=str(outcome.get("message", "no outcome written (the job ended before the graph ran)")),
            engine=dict(outcome.get("engine") or {"name": "daliuge", "version": "unknown"}),
            session_id=outcome.get("session_id"),
            hashes=dict(outcome.get("graph_sha256") or {}),
            timings=dict(outcome.get("timings") or {}),
            failures=failures,
            log_path=outcome.get("nm_log"),
            products=[Product(str(p["path"]), int(p["size"]), str(p["sha256"])) for p in inventory],
            raw=dict(outcome),
        )


def _conforms(workflow: DaliugeWorkflow) -> Workflow:
    return workflow  # mypy checks here that DaliugeWorkflow satisfies the Workflow protocol
