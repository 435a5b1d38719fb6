"""The provenance room: the table of signed run records, chained per survey.

Only storage lives here (JSON envelopes in, JSON envelopes out); signing, re-chaining after a lost race and
verification are `beampipe_provider.provenance`. The table is append-only (database triggers), and its unique keys
make appends race-safe: a run has at most one record, and a record at most one successor (`previous_sha256`; the
first record of a survey stores "genesis:<survey>", so it is unique too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from beampipe_provider.ledger.room import Room
from beampipe_provider.ledger.schema import provenance

Envelope = dict[str, Any]


class ProvenanceRoom(Room):
    def latest_provenance_sha256(self, survey: str) -> str | None:
        """The hash of the survey's latest record: what the next record names as `previous`."""
        query = (
            sa.select(provenance.c.record_sha256)
            .where(provenance.c.survey == survey)
            .order_by(provenance.c.id.desc())
            .limit(1)
        )
        with self.engine.begin() as conn:
            return conn.execute(query).scalar_one_or_none()

    def add_provenance(self, survey: str, run_key: str, envelope: Mapping[str, Any]) -> bool:
        """Append a signed envelope after the record it names as `previous`. False, and nothing written, when the
        run already has a record or another record took that place first: the caller re-reads and decides."""
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
            return False
        return True

    def provenance_envelope(self, run_key: str) -> Envelope | None:
        """The run's signed record, or None if it has none yet."""
        with self.engine.begin() as conn:
            text = conn.execute(
                sa.select(provenance.c.envelope).where(provenance.c.run_key == run_key)
            ).scalar_one_or_none()
        return json.loads(text) if text else None

    def provenance_records(self, survey: str) -> list[tuple[str, Envelope]]:
        """The survey's records in chain order, each with the run it belongs to, in one query."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(provenance.c.run_key, provenance.c.envelope)
                .where(provenance.c.survey == survey)
                .order_by(provenance.c.id)
            ).all()
        return [(row.run_key, json.loads(row.envelope)) for row in rows]

    def provenance_chain(self, survey: str, *, until_run_key: str | None = None) -> list[Envelope]:
        """The survey's records in chain order, up to and including `until_run_key` (all of them without)."""
        chain = []
        for run_key, envelope in self.provenance_records(survey):
            chain.append(envelope)
            if run_key == until_run_key:
                break
        return chain
