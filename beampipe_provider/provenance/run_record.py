"""A run's provenance record from what the ledger, the staging report, the job and the facility say about it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from beampipe_provider import __version__
from beampipe_provider.ledger.records import DatasetRecord
from beampipe_provider.provenance.record import build_record


def run_record(
    *,
    run: Mapping[str, Any],
    ledger_datasets: Sequence[DatasetRecord],
    staged: Sequence[Mapping[str, Any]],
    bundle_hashes: Mapping[str, str],
    outcome: Mapping[str, Any],
    job: Mapping[str, Any],
    facility: Mapping[str, Any],
    parameters: Mapping[str, Any],
    outputs: Sequence[Mapping[str, Any]],
    airflow_version: str,
    previous: str | None,
) -> dict[str, Any]:
    """`staged`: the datasets as the job read them (path, and sha256/size when the staging step measured them)."""
    by_id = {str(d.get("dataset_id")): d for d in staged}
    inputs = []
    for dataset in ledger_datasets:
        local = by_id.get(dataset.dataset_id, {})
        inputs.append(
            {
                "archive": dataset.archive,
                "dataset_id": dataset.dataset_id,
                "access_url": dataset.access_url,
                "archive_checksum": dataset.checksum,
                "sha256": local.get("sha256"),
                "size": local.get("size", dataset.size),
            }
        )
    if not ledger_datasets:  # a run outside the ledger: what the job read is all there is
        inputs = [{"dataset_id": d.get("dataset_id"), "sha256": d.get("sha256"), "size": d.get("size")} for d in staged]
    engine = dict(outcome.get("engine") or {"name": "daliuge", "version": "unknown"})
    return build_record(
        run=dict(run),
        inputs=inputs,
        workflow={
            "engine": engine.get("name"),
            "engine_version": engine.get("version"),
            "workflow": run.get("workflow"),
            "workflow_version": run.get("workflow_version"),
            "graph_sha256": {**bundle_hashes, **(outcome.get("graph_sha256") or {})},
        },
        parameters=parameters,
        environment={
            "facility": dict(facility),
            "modules": list(facility.get("modules") or []),
            "images": dict(facility.get("images") or {}),
            "provider_version": __version__,
            "airflow_version": airflow_version,
        },
        execution={
            "scheduler": "slurm",
            **{k: job.get(k) for k in ("job_id", "cluster", "partition", "nodes", "state", "exit_code")},
            **{k: job.get(k) for k in ("submitted", "started", "ended")},
            "session_id": outcome.get("session_id"),
        },
        outputs=[{"path": o["path"], "size": o["size"], "sha256": o["sha256"]} for o in outputs],
        previous=previous,
    )
