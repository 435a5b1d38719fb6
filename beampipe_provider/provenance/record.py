"""The provenance record of a run: canonical JSON, so the same run always gives the same bytes.

A record holds inputs (archive ids, access URLs without credentials, archive checksums, sha256 and size of what was
downloaded), the workflow (engine, version, graph hashes), the parameters (secrets removed), the environment
(facility snapshot and its hash, modules, container images, provider and Airflow versions), the execution (from
sacct), the outputs (path, size, sha256), and the hash of the survey's previous record (an append-only chain).
Numbers are integers and times are UTC ISO strings, so no float formatting can change the bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from beampipe_provider.common.canonical import canonical_json, sha256_hex
from beampipe_provider.provenance.redact import redact, redact_url

SCHEMA = "beampipe-provenance/1"


def _time(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _no_floats(value: Any, where: str) -> Any:
    if isinstance(value, float):
        raise ValueError(f"{where}: floats are not allowed in a provenance record (use integers or strings)")
    if isinstance(value, Mapping):
        return {k: _no_floats(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_no_floats(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def build_record(
    *,
    run: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
    workflow: Mapping[str, Any],
    parameters: Mapping[str, Any],
    environment: Mapping[str, Any],
    execution: Mapping[str, Any],
    outputs: Sequence[Mapping[str, Any]],
    previous: str | None,
) -> dict[str, Any]:
    facility = dict(environment.get("facility") or {})
    record = {
        "schema": SCHEMA,
        "run": dict(run),
        "inputs": sorted(
            (
                {
                    **{k: v for k, v in i.items() if k != "access_url"},
                    **({"access_url": redact_url(str(i["access_url"]))} if i.get("access_url") else {}),
                }
                for i in inputs
            ),
            key=lambda i: (str(i.get("archive", "")), str(i.get("dataset_id", ""))),
        ),
        "workflow": dict(workflow),
        "parameters": redact(dict(parameters)),
        "environment": {
            **{k: v for k, v in environment.items() if k != "facility"},
            "facility": redact(facility),
            "facility_sha256": sha256_hex(facility),
        },
        "execution": {k: _time(v) if isinstance(v, datetime) else v for k, v in execution.items()},
        "outputs": sorted((dict(o) for o in outputs), key=lambda o: str(o["path"])),
        "previous": previous,
    }
    return dict(_no_floats(record, "record"))


def canonical_bytes(record: Mapping[str, Any]) -> bytes:
    return canonical_json(record).encode("utf-8")


def record_sha256(record: Mapping[str, Any]) -> str:
    return sha256_hex(record)
