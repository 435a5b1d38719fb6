"""Deterministic identities: run keys and dataset content signatures (canonical JSON + sha256)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no whitespace, no NaN, UTF-8 kept as is."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def run_key(
    *,
    survey: str,
    source_id: str,
    dataset_ids: Iterable[str],
    workflow: str,
    workflow_version: str,
    parameters: Mapping[str, Any],
) -> str:
    """The same survey, source, datasets (in any order), workflow and parameters always give the same key."""
    return sha256_hex(
        {
            "survey": survey,
            "source_id": source_id,
            "datasets": sorted(set(dataset_ids)),
            "workflow": workflow,
            "workflow_version": workflow_version,
            "parameters": dict(parameters),
        }
    )
