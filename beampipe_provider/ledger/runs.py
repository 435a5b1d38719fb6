"""The runs room: a run's claim, its compare-and-set transitions, and its event history.

Idempotency lives in the database: compare-and-set UPDATEs, and row locks (FOR UPDATE SKIP LOCKED on PostgreSQL,
IMMEDIATE transactions on SQLite) where a read decides a write. Planning (which creates runs) is `run_plans`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from beampipe_provider.common.limits import check_text
from beampipe_provider.ledger.bulk import AnyRow, bulk_insert
from beampipe_provider.ledger.errors import StaleState, UnknownRun
from beampipe_provider.ledger.pagination import Page, all_pages, fetch_page
from beampipe_provider.ledger.room import Room, fields_of
from beampipe_provider.ledger.schema import run_events, runs
from beampipe_provider.ledger.states import RECLAIMABLE, TERMINAL, RunState, check_transition


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
    cluster: str | None = None  # the scheduler's cluster of the job, where the site has several

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


_RUN_COLUMNS = [runs.c[name] for name in Run.__dataclass_fields__]
_TIMESTAMP_ON_ENTRY = {
    RunState.SUBMITTED: "submitted_at",
    RunState.RUNNING: "started_at",
}


def _run(row: AnyRow) -> Run:
    values = fields_of(row, Run)
    values["state"] = RunState(values["state"])
    return Run(**values)


def _event(row: AnyRow) -> RunEvent:
    values = row._asdict()
    values["from_state"] = RunState(values["from_state"]) if values["from_state"] else None
    values["to_state"] = RunState(values["to_state"])
    return RunEvent(**values)


class RunsRoom(Room):
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
        cluster: str | None = None,
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
            ("cluster", cluster),
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
        check_text(prefix, "run key")
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
            query = query.where(runs.c.source_id == check_text(source_id, "source ID"))
        return fetch_page(self.engine, query, runs.c.id, after, limit, _run)

    def iter_runs(
        self,
        survey: str | None = None,
        *,
        state: RunState | None = None,
        source_id: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[Run]:
        """Every run `list_runs` would list with these filters, oldest first, a page at a time."""
        return all_pages(
            lambda after: self.list_runs(survey, state=state, source_id=source_id, limit=page_size, after=after)
        )

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
