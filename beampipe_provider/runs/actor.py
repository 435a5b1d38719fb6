"""Who moved a run: the actor string of every ledger event a task writes, built and read in this one place.

A task instance writes `dag_id/run_id/task_id/map_index` (an unmapped task: map index -1). Airflow's ids never
contain "/", so anything that does not split into those parts (a planner, an operator's name) is not a task."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TASK_ACTOR = re.compile(r"(?P<dag_id>[^/]+)/(?P<run_id>[^/]+)/(?P<task_id>[^/]+)(?:/(?P<map_index>-?\d+))?")


@dataclass(frozen=True)
class TaskActor:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def __str__(self) -> str:
        return f"{self.dag_id}/{self.run_id}/{self.task_id}/{self.map_index}"

    @property
    def dag_run(self) -> str:
        """The DAG run as a claimant: a survey DAG's plan task claims its batch for the whole DAG run."""
        return f"{self.dag_id}/{self.run_id}"

    @classmethod
    def parse(cls, actor: str) -> TaskActor | None:
        match = _TASK_ACTOR.fullmatch(actor)
        if match is None:
            return None
        return cls(match["dag_id"], match["run_id"], match["task_id"], int(match["map_index"] or -1))
