"""SlurmDaliugeOperator: the DALiuGE face of SlurmWorkflowOperator, for survey teams who run EAGLE graphs.

Everything (the run's files, submission, tracking, outcome, provenance) is the generic operator's; this one only
names the engine and takes the graph by its DALiuGE name."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from beampipe_provider.links.slurm import DaliugeSessionLink, SlurmJobLink
from beampipe_provider.operators.workflow import SlurmWorkflowOperator


class SlurmDaliugeOperator(SlurmWorkflowOperator):
    """`graph`: a logical graph file on the worker. `facility`: a profile name (`setonix`, `local`) or YAML path.
    `datasets`: the staged inputs on the facility, as dataset dicts with `path`, or a stage task's report.
    `parameters`: `"node.field"` entries override graph fields (`{outputs}` is the run's outputs directory);
    all of them reach the apps in manifest.json. `inputs_node` is the graph node that receives the input paths."""

    operator_extra_links: tuple[BaseOperatorLink, ...] = (SlurmJobLink(), DaliugeSessionLink())

    def __init__(self, *, graph: str, inputs_node: str = "inputs", **kwargs: Any) -> None:
        super().__init__(engine="daliuge", workflow=graph, workflow_options={"inputs_node": inputs_node}, **kwargs)

    @property
    def graph(self) -> str:
        return self.workflow
