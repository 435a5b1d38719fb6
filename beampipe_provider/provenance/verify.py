"""Verification: signature, chain and output files, each mismatch as one line that names it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from beampipe_provider.provenance.signing import check_signature


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def chain_breaks(envelopes: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """For each of a survey's envelopes in order, what is wrong with its place in the chain (None: nothing). Each
    record's `previous` must be the hash of the one before; the first has none."""
    breaks: list[str | None] = []
    expected: str | None = None
    for envelope in envelopes:
        record = envelope.get("record", {})
        run_key = record.get("run", {}).get("run_key", "?")
        breaks.append(
            None
            if record.get("previous") == expected
            else f"chain: record of run {run_key} follows {record.get('previous') or 'nothing'}, but the record "
            f"before it is {expected or 'none'} (a record was removed, inserted or changed)"
        )
        expected = str(envelope.get("record_sha256"))
    return breaks


def check_chain(envelopes: Sequence[Mapping[str, Any]]) -> list[str]:
    """A survey's envelopes in order: one line per record out of place."""
    return [problem for problem in chain_breaks(envelopes) if problem]


def check_outputs(record: Mapping[str, Any], *, root: Path | None = None) -> tuple[list[str], int]:
    """Recompute the sha256 of every output that is present (under `root` when given: paths are re-rooted there).
    Returns (problems, files checked); an absent file is not a mismatch, it is simply not checked."""
    problems, checked = [], 0
    for output in record.get("outputs", []):
        path = Path(str(output["path"]))
        if root is not None:
            path = root / path.name
        if not path.is_file():
            continue
        checked += 1
        size = path.stat().st_size
        if size != output.get("size"):
            problems.append(f"output {output['path']}: size {size}, recorded {output.get('size')}")
        elif file_sha256(path) != output.get("sha256"):
            problems.append(f"output {output['path']}: sha256 differs from the record")
    return problems, checked


def verify(
    envelope: Mapping[str, Any],
    key: Ed25519PublicKey,
    *,
    chain: Sequence[Mapping[str, Any]] = (),
    outputs_root: Path | None = None,
) -> list[str]:
    """Everything that is wrong with one record: its signature, its place in `chain` (the survey's records in
    order, including this one), and its output files."""
    problems = check_signature(envelope, key)
    if chain:
        problems += check_chain(chain)
    output_problems, _ = check_outputs(envelope.get("record", {}), root=outputs_root)
    return problems + output_problems
