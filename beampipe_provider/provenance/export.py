"""Exports of a provenance record: W3C PROV-JSON (mapped to the IVOA Provenance Data Model) and an OpenLineage
run event. Both are views of the signed record; the record itself stays the evidence."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from beampipe_provider import __version__

PRODUCER = f"https://github.com/beampipe/beampipe-provider/tree/{__version__}"
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PREFIXES = {
    "bp": "https://beampipe.org/ns/provenance#",
    "voprov": "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/",
    "casda": "https://casda.csiro.au/ns/dataset#",
    "file": "file://",
}


def _typed(value: Any) -> Any:
    """PROV-JSON attribute values: strings, numbers and booleans as they are; anything else as a string."""
    return value if isinstance(value, str | int | bool) else str(value)


def to_prov_json(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """Entities: the input datasets and the products; activity: the run; agents: the survey team and the facility."""
    record = envelope["record"]
    run = record["run"]
    activity = f"bp:run-{run['run_key']}"
    team = f"bp:survey-{run.get('survey', 'unknown')}"
    facility = f"bp:facility-{record['environment'].get('facility', {}).get('name', 'unknown')}"
    execution = record["execution"]
    doc: dict[str, Any] = {
        "prefix": PREFIXES,
        "activity": {
            activity: {
                "prov:type": "voprov:Activity",
                "prov:label": f"{run.get('workflow', 'workflow')} run {run['run_key'][:12]}",
                **({"prov:startTime": execution["started"]} if execution.get("started") else {}),
                **({"prov:endTime": execution["ended"]} if execution.get("ended") else {}),
                "bp:record_sha256": envelope["record_sha256"],
                **{
                    f"bp:{k}": _typed(v)
                    for k, v in execution.items()
                    if v is not None and k not in ("started", "ended")
                },
            }
        },
        "agent": {
            team: {"prov:type": "prov:Organization", "prov:label": f"{run.get('survey')} survey team"},
            facility: {"prov:type": "prov:Organization", "prov:label": "compute facility"},
        },
        "entity": {},
        "used": {},
        "wasGeneratedBy": {},
        "wasAssociatedWith": {
            "_:assoc-team": {"prov:activity": activity, "prov:agent": team, "prov:role": "voprov:coordinator"},
            "_:assoc-facility": {"prov:activity": activity, "prov:agent": facility, "prov:role": "voprov:executor"},
        },
    }
    for i, dataset in enumerate(record["inputs"]):
        entity = f"casda:{dataset.get('dataset_id')}"
        doc["entity"][entity] = {
            "prov:type": "voprov:Entity",
            **{f"bp:{k}": _typed(v) for k, v in dataset.items() if v is not None and k != "dataset_id"},
        }
        doc["used"][f"_:used-{i}"] = {"prov:activity": activity, "prov:entity": entity}
    for i, output in enumerate(record["outputs"]):
        entity = f"file:{output['path']}"
        doc["entity"][entity] = {
            "prov:type": "voprov:Entity",
            "bp:size": output["size"],
            "bp:sha256": output["sha256"],
        }
        doc["wasGeneratedBy"][f"_:gen-{i}"] = {"prov:entity": entity, "prov:activity": activity}
    return doc


def to_openlineage(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """One COMPLETE run event: inputs are archive datasets, outputs are products, the Slurm job is a run facet."""
    record = envelope["record"]
    run = record["run"]
    execution = record["execution"]
    facility = record["environment"].get("facility", {}).get("name", "facility")
    return {
        "eventType": "COMPLETE",
        "eventTime": execution.get("ended") or execution.get("started") or "1970-01-01T00:00:00Z",
        "producer": PRODUCER,
        "schemaURL": OPENLINEAGE_SCHEMA,
        "run": {
            "runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"beampipe:{run['run_key']}")),
            "facets": {
                "beampipe_slurm": {
                    "_producer": PRODUCER,
                    "_schemaURL": f"{PRODUCER}/facets/slurm.json",
                    **{k: execution.get(k) for k in ("job_id", "cluster", "partition", "state", "exit_code")},
                }
            },
        },
        "job": {"namespace": f"beampipe.{run.get('survey', 'survey')}", "name": str(run.get("workflow", "workflow"))},
        "inputs": [
            {"namespace": str(d.get("archive", "archive")), "name": str(d["dataset_id"])} for d in record["inputs"]
        ],
        "outputs": [{"namespace": f"file.{facility}", "name": str(o["path"])} for o in record["outputs"]],
    }
