"""Deterministic identities: run keys (canonical JSON + sha256, `common.canonical`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from beampipe_provider.common.canonical import sha256_hex


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
