"""LedgerStore: the one place that reads and writes the ledger.

Idempotency lives in the database: unique keys with INSERT ... ON CONFLICT, compare-and-set UPDATEs, and row
locks (FOR UPDATE SKIP LOCKED on PostgreSQL, IMMEDIATE transactions on SQLite) where a read decides a write.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from beampipe_provider.ledger.bulk import AnyRow, bulk_insert, is_in
from beampipe_provider.ledger.errors import (
    StaleState,
    UnknownDatasets,
    UnknownRun,
    UnknownSources,
)
from beampipe_provider.ledger.keys import run_key as make_run_key
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord, check_survey
from beampipe_provider.ledger.schema import (
    datasets,
    run_datasets,
    run_events,
    runs,
    sources,
)
from beampipe_provider.ledger.states import (
    RECLAIMABLE,
    TERMINAL,
    RunState,
    check_transition,
)

T = TypeVar("T")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Source:
    survey: str
    source_id: str
    enabled: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Run:
    run_key: str
    survey: str
    source_id: str
    workflow: str
    workflow_version: str
    parameters: dict[str, Any]
    state: RunState
    attempt: int
    scheduler: str | None
    facility: str | None
    scheduler_job_id: str | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish. A short job may end between two polls and never be seen RUNNING: then it
        counts from submission."""
        start = self.started_at or self.submitted_at
        if start is None or self.finished_at is None:
            return None
        return (self.finished_at - start).total_seconds()


@dataclass(frozen=True)
class RunEvent:
    run_key: str
    from_state: RunState | None
    to_state: RunState
    at: datetime
    actor: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated listing; pass next_after back as `after` for the next page."""

    items: list[T]
    next_after: int | None


@dataclass(frozen=True)
class RegisterResult:
    created: list[str]
    existing: list[str]


@dataclass(frozen=True)
class RecordResult:
    new: list[str]
    changed: list[str]
    unchanged: list[str]


@dataclass(frozen=True)
class PlanResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    # Datasets that made no run, and why: reported to the caller, never silently dropped.
    unknown_source: list[str] = field(default_factory=list)
    disabled_source: list[str] = field(default_factory=list)
    no_source: list[str] = field(default_factory=list)


_RUN_COLUMNS = [runs.c[name] for name in Run.__dataclass_fields__]
_TIMESTAMP_ON_ENTRY = {
    RunState.SUBMITTED: "submitted_at",
    RunState.RUNNING: "started_at",
}


def _fields(row: AnyRow, cls: Any) -> dict[str, Any]:
    """The row's values for the dataclass `cls` (listings also select the paging id, which is not a field)."""
    names = cls.__dataclass_fields__
    return {name: value for name, value in row._mapping.items() if name in names}


def _run(row: AnyRow) -> Run:
    values = _fields(row, Run)
    values["state"] = RunState(values["state"])
    return Run(**values)


def _source(row: AnyRow) -> Source:
    return Source(**_fields(row, Source))


def _event(row: AnyRow) -> RunEvent:
    values = row._asdict()
    values["from_state"] = RunState(values["from_state"]) if values["from_state"] else None
    values["to_state"] = RunState(values["to_state"])
    return RunEvent(**values)


def _chunks(items: Sequence[T], size: int = 10_000) -> Iterator[Sequence[T]]:
    """Bounded lookups: SQLite allows 32,766 host parameters per statement."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LedgerStore:
    """Sources, datasets, runs and their events. Core code: no Airflow here.

    The caller migrates the schema (`beampipe ledger upgrade`) and checks it (`migrate.check_schema`); the store
    trusts the engine it is given. `clock` is injectable so claim expiry can be tested without sleeping.
    """

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    # -- plumbing -------------------------------------------------------------------------------------------

    # -- sources --------------------------------------------------------------------------------------------

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
            query = query.where(sources.c.source_id.icontains(search, autoescape=True))
        return self._page(query, sources.c.id, after, limit, _source)

    # -- datasets -------------------------------------------------------------------------------------------

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

    # -- runs -----------------------------------------------------------------------------------------------

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
        for chunk in _chunks(dataset_ids):
            query = sa.select(datasets.c.dataset_id, datasets.c.id, datasets.c.source_id).where(
                datasets.c.archive == archive, is_in(conn, datasets.c.dataset_id, chunk)
            )
            found.update({dataset_id: (pk, source_id) for dataset_id, pk, source_id in conn.execute(query)})
        return found

    def _enabled_flags(self, conn: Connection, survey: str, source_ids: list[str]) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        for chunk in _chunks(source_ids):
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

    def claim_runs(
        self,
        claimant: str,
        *,
        ttl: timedelta,
        limit: int = 100,
        survey: str | None = None,
        run_keys: Sequence[str] | None = None,
    ) -> list[Run]:
        """Atomically claim up to `limit` runs that are DISCOVERED or whose claim has expired.

        Each run is claimed by exactly one claimant: the candidate rows are locked (SKIP LOCKED on PostgreSQL,
        the write lock on SQLite) before they are updated. A claim lasts `ttl`; renew it with `renew_claim`.
        """
        now = self._clock()
        claimable = sa.or_(
            runs.c.state == RunState.DISCOVERED.value,
            sa.and_(
                runs.c.state.in_([s.value for s in RECLAIMABLE]),
                runs.c.claim_expires_at < now,
            ),
        )
        query = sa.select(runs.c.id, runs.c.run_key, runs.c.state, runs.c.claimed_by).where(claimable)
        if survey is not None:
            query = query.where(runs.c.survey == survey)
        if run_keys is not None:
            query = query.where(runs.c.run_key.in_(run_keys))
        query = query.order_by(runs.c.id).limit(limit).with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            picked = conn.execute(query).all()
            if not picked:
                return []
            ids = [row.id for row in picked]
            conn.execute(
                sa.update(runs)
                .where(runs.c.id.in_(ids))
                .values(
                    state=RunState.CLAIMED.value,
                    claimed_by=claimant,
                    claim_expires_at=now + ttl,
                    attempt=runs.c.attempt + 1,
                    updated_at=now,
                )
            )
            bulk_insert(
                conn,
                run_events,
                [
                    {
                        "run_key": row.run_key,
                        "from_state": row.state,
                        "to_state": RunState.CLAIMED.value,
                        "at": now,
                        "actor": claimant,
                        "detail": {"expires_at": (now + ttl).isoformat()}
                        | ({"reclaimed_from": row.claimed_by} if row.claimed_by else {}),
                    }
                    for row in picked
                ],
            )
            claimed = conn.execute(sa.select(*_RUN_COLUMNS).where(runs.c.id.in_(ids)).order_by(runs.c.id)).all()
        return [_run(row) for row in claimed]

    def runs_held_by(self, claimant: str, *, survey: str | None = None) -> list[Run]:
        """Runs `claimant` holds (CLAIMED or STAGED), oldest first: what a retried claimant resumes."""
        query = sa.select(*_RUN_COLUMNS).where(
            runs.c.claimed_by == claimant, runs.c.state.in_([s.value for s in RECLAIMABLE])
        )
        if survey is not None:
            query = query.where(runs.c.survey == survey)
        with self.engine.begin() as conn:
            return [_run(row) for row in conn.execute(query.order_by(runs.c.id))]

    def renew_claim(self, run_key: str, claimant: str, *, ttl: timedelta) -> datetime:
        """Extend a live claim (a heartbeat). Fails if the claim was lost, so a slow claimant stops working."""
        now = self._clock()
        expires = now + ttl
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(runs)
                .where(
                    runs.c.run_key == run_key,
                    runs.c.claimed_by == claimant,
                    runs.c.state.in_([s.value for s in RECLAIMABLE]),
                    runs.c.claim_expires_at >= now,
                )
                .values(claim_expires_at=expires, updated_at=now)
            )
            if result.rowcount != 1:
                run = self._get_run(conn, run_key)
                raise StaleState(run_key, RunState.CLAIMED, run.state, run.claimed_by)
        return expires

    def transition(
        self,
        run_key: str,
        *,
        expected: RunState,
        to: RunState,
        actor: str,
        claimant: str | None = None,
        detail: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        facility: str | None = None,
        scheduler_job_id: str | None = None,
        error: str | None = None,
        entered_at: datetime | None = None,
    ) -> Run:
        """Compare-and-set the run's state and append one event, in one transaction. `entered_at` is when the run
        really entered the state, if known and earlier than now (a job's start time, read when it ended): it goes into
        submitted_at/started_at; the event keeps the time it was recorded.

        Raises IllegalTransition (not in the state machine), UnknownRun, or StaleState (the run is not in
        `expected`, or not held by `claimant` when one is given). Nothing changes when it raises.
        """
        check_transition(expected, to)
        now = self._clock()
        values: dict[str, Any] = {"state": to.value, "updated_at": now}
        if column := _TIMESTAMP_ON_ENTRY.get(to):
            values[column] = min(entered_at, now) if entered_at else now
        if to in TERMINAL:
            values["finished_at"] = now
        if to is RunState.DISCOVERED:  # requeued: a fresh start for the next claimant
            values.update(
                claimed_by=None,
                claim_expires_at=None,
                finished_at=None,
                last_error=None,
            )
        for name, value in (
            ("scheduler", scheduler),
            ("facility", facility),
            ("scheduler_job_id", scheduler_job_id),
            ("last_error", error),
        ):
            if value is not None:
                values[name] = value
        guard = [runs.c.run_key == run_key, runs.c.state == expected.value]
        if claimant is not None:
            guard.append(runs.c.claimed_by == claimant)
        with self.engine.begin() as conn:
            if conn.execute(sa.update(runs).where(*guard).values(values)).rowcount != 1:
                run = self._get_run(conn, run_key)
                raise StaleState(run_key, expected, run.state, run.claimed_by)
            event_detail = dict(detail or {}) | {
                name: values[name] for name in ("scheduler_job_id", "last_error") if values.get(name)
            }
            bulk_insert(
                conn,
                run_events,
                [
                    {
                        "run_key": run_key,
                        "from_state": expected.value,
                        "to_state": to.value,
                        "at": now,
                        "actor": actor,
                        "detail": event_detail,
                    }
                ],
            )
            return self._get_run(conn, run_key)

    def resolve_run_key(self, prefix: str) -> str:
        """A full run key from a unique prefix of at least 8 characters (listings show 12)."""
        if len(prefix) < 8:
            raise ValueError(f"run key prefix {prefix!r} is too short: give at least 8 characters")
        query = sa.select(runs.c.run_key).where(runs.c.run_key.startswith(prefix, autoescape=True)).limit(2)
        with self.engine.begin() as conn:
            keys: list[str] = list(conn.execute(query).scalars())
        if len(keys) != 1:
            raise UnknownRun(prefix) if not keys else ValueError(f"run key prefix {prefix!r} is ambiguous")
        return keys[0]

    def get_run(self, run_key: str) -> Run:
        with self.engine.begin() as conn:
            return self._get_run(conn, run_key)

    @staticmethod
    def _get_run(conn: Connection, run_key: str) -> Run:
        row = conn.execute(sa.select(*_RUN_COLUMNS).where(runs.c.run_key == run_key)).first()
        if row is None:
            raise UnknownRun(run_key)
        return _run(row)

    def find_run_by_job(self, scheduler_job_id: str, *, scheduler: str | None = None) -> Run | None:
        query = sa.select(*_RUN_COLUMNS).where(runs.c.scheduler_job_id == scheduler_job_id)
        if scheduler is not None:
            query = query.where(runs.c.scheduler == scheduler)
        with self.engine.begin() as conn:
            row = conn.execute(query.order_by(runs.c.id.desc())).first()
        return _run(row) if row else None

    def list_runs(
        self,
        survey: str | None = None,
        *,
        state: RunState | None = None,
        source_id: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> Page[Run]:
        query = sa.select(runs.c.id, *_RUN_COLUMNS).order_by(runs.c.id).limit(limit + 1)
        if survey is not None:
            query = query.where(runs.c.survey == survey)
        if state is not None:
            query = query.where(runs.c.state == state.value)
        if source_id is not None:
            query = query.where(runs.c.source_id == source_id)
        return self._page(query, runs.c.id, after, limit, _run)

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

    def run_history(self, run_key: str) -> list[RunEvent]:
        query = (
            sa.select(
                run_events.c.run_key,
                run_events.c.from_state,
                run_events.c.to_state,
                run_events.c.at,
                run_events.c.actor,
                run_events.c.detail,
            )
            .where(run_events.c.run_key == run_key)
            .order_by(run_events.c.id)
        )
        with self.engine.begin() as conn:
            return [_event(row) for row in conn.execute(query)]

    def _page(
        self,
        query: sa.Select[Any],
        id_column: sa.ColumnElement[int],
        after: int | None,
        limit: int,
        convert: Callable[[AnyRow], T],
    ) -> Page[T]:
        if after is not None:
            query = query.where(id_column > after)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            items=[convert(row) for row in rows],
            next_after=rows[-1].id if more and rows else None,
        )
