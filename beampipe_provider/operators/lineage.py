"""OpenLineage for the Slurm operators, used only when the OpenLineage provider is installed (imported lazily by
`get_openlineage_facets_on_complete`): inputs are archive datasets, outputs are products, the Slurm job is a run
facet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attr
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.event_v2 import Dataset
from openlineage.client.facet_v2 import RunFacet

from beampipe_provider import __version__

PRODUCER = f"https://github.com/beampipe/beampipe-provider/tree/{__version__}"


@attr.define
class SlurmJobRunFacet(RunFacet):
    """The Slurm job that did the work."""

    job_id: str
    cluster: str | None = None
    state: str | None = None
    exit_code: int | None = None

    @staticmethod
    def _get_schema() -> str:
        return f"{PRODUCER}/facets/SlurmJobRunFacet.json"


def operator_lineage(
    job: Mapping[str, Any], inputs: Sequence[tuple[str, str]], outputs: Sequence[tuple[str, str]]
) -> OperatorLineage[Dataset, RunFacet]:
    """`inputs`/`outputs`: (namespace, name) pairs."""
    return OperatorLineage(
        inputs=[Dataset(namespace=ns, name=name) for ns, name in inputs],
        outputs=[Dataset(namespace=ns, name=name) for ns, name in outputs],
        run_facets={
            "beampipe_slurm": SlurmJobRunFacet(
                job_id=str(job.get("job_id")),
                cluster=job.get("cluster"),
                state=job.get("state"),
                exit_code=job.get("exit_code"),
            )
        },
    )
