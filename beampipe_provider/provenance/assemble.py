"""A finished run's provenance, assembled from the ledger, the staged inputs, the job and the workflow's outcome,
signed and chained in the ledger. Core code: the operator gathers the facts on the facility and calls this."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import Envelope, ProvenanceLedger
from beampipe_provider.provenance.run_record import run_record
from beampipe_provider.workflow.base import Outcome, Product


def changed_products(products: Sequence[Product], measured: Mapping[str, str]) -> list[str]:
    """Products whose sha256, measured again on the facility, is not what the job's inventory says."""
    return [p.path for p in products if measured.get(p.path) != p.sha256]


def image_pins(images: Mapping[str, str], digests: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Container images of the facility profile: an image file is pinned by its sha256 (measured on the facility);
    a registry reference is kept as written (it should carry its own @sha256 digest)."""
    return {
        name: {"ref": ref, "sha256": digests.get(ref)} if ref.startswith("/") else {"ref": ref}
        for name, ref in images.items()
    }


def record_run_provenance(
    store: LedgerStore,
    run_key: str,
    *,
    outcome: Outcome,
    bundle_hashes: Mapping[str, str],
    staged: Sequence[Mapping[str, Any]],
    job: Mapping[str, Any],
    facility: Mapping[str, Any],
    parameters: Mapping[str, Any],
    airflow_version: str,
    key: Ed25519PrivateKey,
) -> Envelope:
    """Sign the run's record and chain it after the survey's latest (race-safe: see ProvenanceLedger)."""
    run = store.get_run(run_key)
    inventory = [{"path": p.path, "size": p.size, "sha256": p.sha256} for p in outcome.products]

    def make(previous: str | None) -> dict[str, Any]:
        return run_record(
            run={
                "run_key": run.run_key,
                "survey": run.survey,
                "source_id": run.source_id,
                "workflow": run.workflow,
                "workflow_version": run.workflow_version,
            },
            ledger_datasets=store.run_datasets(run.run_key),
            staged=staged,
            bundle_hashes=bundle_hashes,
            outcome=outcome.raw,
            job=job,
            facility=facility,
            parameters=parameters,
            outputs=inventory,
            airflow_version=airflow_version,
            previous=previous,
        )

    return ProvenanceLedger(store).append(run.survey, run.run_key, make, key)
