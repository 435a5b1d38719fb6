"""Planning: one run per registered, enabled source over recorded datasets, with a deterministic run key.

The key is a hash of what the run does, and runs are inserted with ON CONFLICT DO NOTHING, so racing planners,
backfills and retries all land on the same row ("select then insert" would make two).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from beampipe_provider.common.names import check_name
from beampipe_provider.ledger.bulk import bulk_insert, is_in
from beampipe_provider.ledger.errors import UnknownDatasets
from beampipe_provider.ledger.keys import run_key as make_run_key
from beampipe_provider.ledger.records import check_survey
from beampipe_provider.ledger.room import Room, chunks
from beampipe_provider.ledger.schema import datasets, run_datasets, run_events, runs, sources
from beampipe_provider.ledger.states import RunState


@dataclass(frozen=True)
class PlanResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    # Datasets that made no run, and why: reported to the caller, never silently dropped.
    unknown_source: list[str] = field(default_factory=list)
    disabled_source: list[str] = field(default_factory=list)
    no_source: list[str] = field(default_factory=list)


class RunPlansRoom(Room):
    def plan_runs(
        self,
        survey: str,
        dataset_ids: Iterable[str],
        *,
        workflow: str,
        workflow_version: str,
        parameters: Mapping[str, Any] | None = None,
        archive: str = "casda",
        scheduler: str | None = None,
        facility: str | None = None,
        actor: str = "planner",
    ) -> PlanResult:
        """One run per source over the given (recorded) datasets, for registered and enabled sources only.

        The run key is deterministic, so planning the same datasets again returns them as existing; racing
        planners, backfills and retries all land on the same row.
        """
        check_survey(survey)
        named: tuple[tuple[str | None, str], ...] = (
            (workflow, "workflow"),
            (workflow_version, "workflow version"),
            (scheduler, "scheduler"),
            (facility, "facility"),
        )
        for value, what in named:  # they reach the ledger, job names and logs: the same rule as the survey YAML
            if value is not None:
                check_name(value, what)
        params = dict(parameters or {})
        wanted = sorted(set(dataset_ids))
        now = self._clock()
        with self.engine.begin() as conn:
            found = self._datasets_by_id(conn, archive, wanted)
            if missing := set(wanted) - found.keys():
                raise UnknownDatasets(archive, missing)
            by_source: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
            for dataset_id, (pk, source_id) in found.items():
                by_source[source_id].append((dataset_id, pk))
            enabled = self._enabled_flags(conn, survey, [s for s in by_source if s is not None])
            unknown: list[str] = []
            disabled: list[str] = []
            no_source: list[str] = []
            groups: dict[str, tuple[str, list[int]]] = {}
            for source_id, members in sorted(by_source.items(), key=lambda item: item[0] or ""):
                ids = [dataset_id for dataset_id, _ in members]
                if source_id is None:
                    no_source.extend(ids)
                elif source_id not in enabled:
                    unknown.extend(ids)
                elif not enabled[source_id]:
                    disabled.extend(ids)
                else:
                    key = make_run_key(
                        survey=survey,
                        source_id=source_id,
                        dataset_ids=ids,
                        workflow=workflow,
                        workflow_version=workflow_version,
                        parameters=params,
                    )
                    groups[key] = (source_id, [pk for _, pk in members])
            created = (
                self._insert_runs(
                    conn,
                    survey,
                    groups,
                    workflow,
                    workflow_version,
                    params,
                    scheduler,
                    facility,
                    actor,
                    now,
                )
                if groups
                else {}
            )
        return PlanResult(
            created=sorted(created),
            existing=sorted(set(groups) - created.keys()),
            unknown_source=sorted(unknown),
            disabled_source=sorted(disabled),
            no_source=sorted(no_source),
        )

    def _datasets_by_id(
        self, conn: Connection, archive: str, dataset_ids: list[str]
    ) -> dict[str, tuple[int, str | None]]:
        found: dict[str, tuple[int, str | None]] = {}
        for chunk in chunks(dataset_ids):
            query = sa.select(datasets.c.dataset_id, datasets.c.id, datasets.c.source_id).where(
                datasets.c.archive == archive, is_in(conn, datasets.c.dataset_id, chunk)
            )
            found.update({dataset_id: (pk, source_id) for dataset_id, pk, source_id in conn.execute(query)})
        return found

    def _enabled_flags(self, conn: Connection, survey: str, source_ids: list[str]) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        for chunk in chunks(source_ids):
            query = sa.select(sources.c.source_id, sources.c.enabled).where(
                sources.c.survey == survey, is_in(conn, sources.c.source_id, chunk)
            )
            flags.update({source_id: bool(enabled) for source_id, enabled in conn.execute(query)})
        return flags

    def _insert_runs(
        self,
        conn: Connection,
        survey: str,
        groups: dict[str, tuple[str, list[int]]],
        workflow: str,
        workflow_version: str,
        parameters: dict[str, Any],
        scheduler: str | None,
        facility: str | None,
        actor: str,
        now: datetime,
    ) -> dict[str, int]:
        """Insert the runs that do not exist yet; only the ones this call created get links and an event."""
        rows = [
            {
                "run_key": key,
                "survey": survey,
                "source_id": source_id,
                "workflow": workflow,
                "workflow_version": workflow_version,
                "parameters": parameters,
                "state": RunState.DISCOVERED.value,
                "attempt": 0,
                "scheduler": scheduler,
                "facility": facility,
                "created_at": now,
                "updated_at": now,
            }
            for key, (source_id, _) in groups.items()
        ]
        inserted = bulk_insert(conn, runs, rows, conflict=["run_key"], returning=[runs.c.run_key, runs.c.id])
        created: dict[str, int] = {key: run_id for key, run_id in inserted}
        if not created:
            return created
        links = [{"run_id": run_id, "dataset_pk": pk} for key, run_id in created.items() for pk in groups[key][1]]
        bulk_insert(conn, run_datasets, links)
        bulk_insert(
            conn,
            run_events,
            [
                {
                    "run_key": key,
                    "from_state": None,
                    "to_state": RunState.DISCOVERED.value,
                    "at": now,
                    "actor": actor,
                    "detail": {"datasets": len(groups[key][1])},
                }
                for key in created
            ],
        )
        return created
