"""The sources room: a survey's registered sources, each enabled or disabled by an operator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from beampipe_provider.common.limits import check_text
from beampipe_provider.ledger.bulk import AnyRow, bulk_insert
from beampipe_provider.ledger.errors import UnknownSources
from beampipe_provider.ledger.pagination import Page, fetch_page
from beampipe_provider.ledger.records import SourceRecord, check_survey
from beampipe_provider.ledger.room import Room, fields_of
from beampipe_provider.ledger.schema import sources


@dataclass(frozen=True)
class Source:
    survey: str
    source_id: str
    enabled: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RegisterResult:
    created: list[str]
    existing: list[str]


def _source(row: AnyRow) -> Source:
    return Source(**fields_of(row, Source))


class SourcesRoom(Room):
    def register_sources(self, survey: str, records: Iterable[SourceRecord]) -> RegisterResult:
        """Idempotent: an existing source keeps its enabled flag and metadata (a re-import never re-enables)."""
        check_survey(survey)
        now = self._clock()
        rows = {
            r.source_id: {
                "survey": survey,
                "source_id": r.source_id,
                "enabled": r.enabled,
                "metadata": r.metadata,
                "created_at": now,
                "updated_at": now,
            }
            for r in records
        }
        if not rows:
            return RegisterResult([], [])
        with self.engine.begin() as conn:
            inserted = bulk_insert(
                conn, sources, list(rows.values()), conflict=["survey", "source_id"], returning=[sources.c.source_id]
            )
        created = {source_id for (source_id,) in inserted}
        return RegisterResult(
            created=sorted(created),
            existing=sorted(source_id for source_id in rows if source_id not in created),
        )

    def set_enabled(self, survey: str, source_ids: Iterable[str], enabled: bool) -> int:
        """Enable or disable sources; all must be registered, or nothing changes. Returns how many changed."""
        wanted = sorted(set(source_ids))
        with self.engine.begin() as conn:
            known = set(
                conn.execute(
                    sa.select(sources.c.source_id)
                    .where(sources.c.survey == survey, sources.c.source_id.in_(wanted))
                    .with_for_update()
                ).scalars()
            )
            if missing := set(wanted) - known:
                raise UnknownSources(survey, missing)
            result = conn.execute(
                sa.update(sources)
                .where(
                    sources.c.survey == survey,
                    sources.c.source_id.in_(wanted),
                    sources.c.enabled != enabled,
                )
                .values(enabled=enabled, updated_at=self._clock())
            )
        return result.rowcount

    def get_source(self, survey: str, source_id: str) -> Source | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(*sources.c).where(sources.c.survey == survey, sources.c.source_id == source_id)
            ).first()
        return _source(row) if row else None

    def list_sources(
        self,
        survey: str | None = None,
        *,
        enabled: bool | None = None,
        search: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> Page[Source]:
        query = sa.select(sources.c.id, *sources.c).order_by(sources.c.id).limit(limit + 1)
        if survey is not None:
            query = query.where(sources.c.survey == survey)
        if enabled is not None:
            query = query.where(sources.c.enabled == enabled)
        if search:
            check_text(search, "search")  # NUL: SQLite's LIKE would end the pattern there and match every row
            query = query.where(sources.c.source_id.icontains(search, autoescape=True))
        return fetch_page(self.engine, query, sources.c.id, after, limit, _source)
