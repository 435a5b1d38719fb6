"""The datasets room: archive products as last seen, with a revision that moves when their content changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from beampipe_provider.ledger.bulk import bulk_insert
from beampipe_provider.ledger.records import DatasetRecord
from beampipe_provider.ledger.room import Room
from beampipe_provider.ledger.schema import datasets, run_datasets, runs


@dataclass(frozen=True)
class RecordResult:
    new: list[str]
    changed: list[str]
    unchanged: list[str]


class DatasetsRoom(Room):
    def record_datasets(self, records: Iterable[DatasetRecord]) -> RecordResult:
        """Bulk upsert. A dataset is new the first time, changed when its content signature moves, else unchanged.

        One statement decides all three: the upsert bumps `revision` and stamps this call's token only when the
        signature differs, and RETURNING tells this call's inserts and changes apart from everyone else's.
        """
        now = self._clock()
        token = uuid.uuid4().hex
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for r in records:  # last one wins within a batch: ON CONFLICT cannot touch one row twice
            rows[(r.archive, r.dataset_id)] = {
                **r.model_dump(),
                "signature": r.signature(),
                "revision": 1,
                "change_token": token,
                "first_seen": now,
                "last_seen": now,
            }
        if not rows:
            return RecordResult([], [], [])
        refreshed = ("access_url", "release_date", "quality", "last_seen")
        content = ("survey", "source_id", "sbid", "filename", "size", "checksum", "signature")

        def update(excluded: Any) -> dict[str, Any]:
            new_content = datasets.c.signature != excluded.signature
            return {
                **{name: excluded[name] for name in (*refreshed, *content)},
                "revision": sa.case((new_content, datasets.c.revision + 1), else_=datasets.c.revision),
                "change_token": sa.case((new_content, excluded.change_token), else_=datasets.c.change_token),
            }

        new: list[str] = []
        changed: list[str] = []
        unchanged: list[str] = []
        with self.engine.begin() as conn:
            returned = bulk_insert(
                conn,
                datasets,
                list(rows.values()),
                conflict=["archive", "dataset_id"],
                update=update,
                returning=[datasets.c.dataset_id, datasets.c.revision, datasets.c.change_token],
            )
            for dataset_id, revision, change_token in returned:
                if change_token != token:
                    unchanged.append(dataset_id)
                else:
                    (new if revision == 1 else changed).append(dataset_id)
        return RecordResult(new=sorted(new), changed=sorted(changed), unchanged=sorted(unchanged))

    def run_datasets(self, run_key: str) -> list[DatasetRecord]:
        """The datasets a run processes, as recorded (with the access URL last seen)."""
        query = (
            sa.select(*(datasets.c[name] for name in DatasetRecord.model_fields))
            .join(run_datasets, run_datasets.c.dataset_pk == datasets.c.id)
            .join(runs, runs.c.id == run_datasets.c.run_id)
            .where(runs.c.run_key == run_key)
            .order_by(datasets.c.dataset_id)
        )
        with self.engine.begin() as conn:
            return [DatasetRecord.model_validate(row._asdict()) for row in conn.execute(query)]
