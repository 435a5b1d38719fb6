"""The provenance chain in the ledger: append a signed record after the survey's latest, read it back, walk it.

Appending is race-safe without locks: `previous_sha256` is unique (the first record of a survey stores
"genesis:<survey>"), so of two runs chaining onto the same record only one insert succeeds; the other re-reads
the new latest record, rebuilds, re-signs and tries again."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from beampipe_provider.ledger.schema import provenance
from beampipe_provider.provenance.signing import sign

Envelope = dict[str, Any]


class ChainBusy(RuntimeError):
    """Other runs kept chaining first; nothing was written."""


class ProvenanceLedger:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self._clock = clock

    def latest_sha256(self, survey: str) -> str | None:
        query = (
            sa.select(provenance.c.record_sha256)
            .where(provenance.c.survey == survey)
            .order_by(provenance.c.id.desc())
            .limit(1)
        )
        with self.engine.begin() as conn:
            return conn.execute(query).scalar_one_or_none()

    def append(
        self, survey: str, run_key: str, make_record: Callable[[str | None], Mapping[str, Any]], key: Ed25519PrivateKey
    ) -> Envelope:
        """Sign `make_record(previous hash)` and chain it. A run that already has a record gets that record back."""
        for _ in range(20):
            if (existing := self.get(run_key)) is not None:
                return existing
            envelope = sign(make_record(self.latest_sha256(survey)), key)
            row = {
                "survey": survey,
                "run_key": run_key,
                "record_sha256": envelope["record_sha256"],
                "previous_sha256": envelope["record"].get("previous") or f"genesis:{survey}",
                "envelope": json.dumps(envelope, sort_keys=True),
                "created_at": self._clock(),
            }
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(provenance).values(row))
            except IntegrityError:
                continue  # someone chained first (or recorded this run): look again
            return envelope
        raise ChainBusy(f"could not chain the record of run {run_key} after 20 attempts")

    def get(self, run_key: str) -> Envelope | None:
        with self.engine.begin() as conn:
            text = conn.execute(
                sa.select(provenance.c.envelope).where(provenance.c.run_key == run_key)
            ).scalar_one_or_none()
        return json.loads(text) if text else None

    def chain(self, survey: str, *, until_run_key: str | None = None) -> list[Envelope]:
        """The survey's records in chain order, up to and including `until_run_key`."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(provenance.c.run_key, provenance.c.envelope)
                .where(provenance.c.survey == survey)
                .order_by(provenance.c.id)
            ).all()
        chain = []
        for row in rows:
            chain.append(json.loads(row.envelope))
            if row.run_key == until_run_key:
                break
        return chain
