"""The provenance chain in the ledger: append a signed record after the survey's latest, read it back, walk it.

Appending is race-safe without locks: the ledger's provenance room refuses a second record with the same
`previous` (see `ledger/provenance.py`), so of two runs chaining onto the same record only one insert succeeds; the
other re-reads the new latest record, rebuilds, re-signs and tries again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from beampipe_provider.ledger.provenance import Envelope, ProvenanceRoom
from beampipe_provider.ledger.room import Clock, utcnow
from beampipe_provider.provenance.signing import sign

__all__ = ["ChainBusy", "Envelope", "ProvenanceLedger"]


class ChainBusy(RuntimeError):
    """Other runs kept chaining first; nothing was written."""


class ProvenanceLedger:
    """Signing and chaining over the ledger's provenance room (a LedgerStore is one: `ProvenanceLedger(store)`
    and `ProvenanceLedger(store.engine)` write to the same table)."""

    def __init__(self, ledger: Engine | ProvenanceRoom, clock: Clock = utcnow) -> None:
        self.room = ledger if isinstance(ledger, ProvenanceRoom) else ProvenanceRoom(ledger, clock)
        self.engine = self.room.engine

    def latest_sha256(self, survey: str) -> str | None:
        return self.room.latest_provenance_sha256(survey)

    def append(
        self, survey: str, run_key: str, make_record: Callable[[str | None], Mapping[str, Any]], key: Ed25519PrivateKey
    ) -> Envelope:
        """Sign `make_record(previous hash)` and chain it. A run that already has a record gets that record back."""
        for _ in range(20):
            if (existing := self.get(run_key)) is not None:
                return existing
            envelope = sign(make_record(self.latest_sha256(survey)), key)
            if self.room.add_provenance(survey, run_key, envelope):
                return envelope
            # someone chained first (or recorded this run): look again
        raise ChainBusy(f"could not chain the record of run {run_key} after 20 attempts")

    def get(self, run_key: str) -> Envelope | None:
        return self.room.provenance_envelope(run_key)

    def chain(self, survey: str, *, until_run_key: str | None = None) -> list[Envelope]:
        """The survey's records in chain order, up to and including `until_run_key`."""
        return self.room.provenance_chain(survey, until_run_key=until_run_key)
