"""CASDA triggers: they read the archive and yield events; the ledger is written by tasks, never here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from beampipe_provider.archive.casda.discovery import Discovery, SurveyRules, adiscover, parse_timestamp
from beampipe_provider.archive.errors import ArchiveError, ArchiveQueryError, ArchiveUnavailable

STATE_KEY = "casda_deposits"  # the event trigger's entry in its asset_state_store


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class CasdaDepositTrigger(BaseTrigger):
    """Fires once with every dataset found in [since, until), as soon as they come from `min_sources` sources or
    `ready_at` has passed (then possibly with none). JSON kwargs only; the hook is built inside run().

    Events (one schema for every outcome): {"status": "success" | "error" | "timeout", "datasets": [...],
    "watermark": ISO | None, "message": str}.
    """

    def __init__(
        self,
        *,
        rules: dict[str, Any],
        since: str | None,
        until: str | None,
        casda_conn_id: str,
        poll_interval: float,
        deadline: str | None = None,
        min_sources: int = 1,
        ready_at: str | None = None,
    ) -> None:
        super().__init__()
        self.rules = rules
        self.since = since
        self.until = until
        self.casda_conn_id = casda_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.min_sources = min_sources
        self.ready_at = ready_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "rules": self.rules,
                "since": self.since,
                "until": self.until,
                "casda_conn_id": self.casda_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "min_sources": self.min_sources,
                "ready_at": self.ready_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from beampipe_provider.hooks.casda import CasdaHook

        rules = SurveyRules.model_validate(self.rules)
        deadline = _when(self.deadline)
        ready_at = _when(self.ready_at)
        client = await CasdaHook(casda_conn_id=self.casda_conn_id).aget_tap_client()
        try:
            while True:
                try:
                    found = await adiscover(client, rules, since=_when(self.since), until=_when(self.until))
                except ArchiveQueryError as exc:
                    yield TriggerEvent({"status": "error", "datasets": [], "watermark": None, "message": str(exc)})
                    return
                except ArchiveUnavailable as exc:
                    self.log.warning("CASDA unavailable, polling again in %.0f s: %s", self.poll_interval, exc)
                else:
                    if found.ready(min_sources=self.min_sources, now=datetime.now(UTC), ready_at=ready_at):
                        yield TriggerEvent(
                            {
                                "status": "success",
                                "datasets": [d.model_dump(mode="json") for d in found.datasets],
                                "watermark": found.watermark.isoformat() if found.watermark else None,
                                "message": f"{len(found.datasets)} datasets in {len(found.events)} deposits",
                            }
                        )
                        return
                if deadline is not None and datetime.now(UTC) >= deadline:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "datasets": [],
                            "watermark": None,
                            "message": f"no deposits before {self.deadline}",
                        }
                    )
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            await client.aclose()


class CasdaDepositEventTrigger(BaseEventTrigger):
    """For `Asset(watchers=[AssetWatcher(name=..., trigger=CasdaDepositEventTrigger(...))])`: polls CASDA forever and
    yields one event per poll that found new deposits: {"status": "success", "deposits": [each observation_event row
    with its products], "datasets": [all their products]}, which schedules the asset's DAGs.

    The watermark and the deposits already announced inside the overlap window live in the triggerer-injected
    `asset_state_store`, so a triggerer restart neither misses nor repeats a deposit. Kwargs are stable (they
    identify the watcher): rules, connection, poll interval, overlap and the first poll's start.
    """

    def __init__(
        self,
        *,
        rules: dict[str, Any],
        casda_conn_id: str = "casda_default",
        poll_interval: float = 300.0,
        overlap_s: float = 86_400.0,
        start: str | None = None,
    ) -> None:
        super().__init__()
        self.rules = rules
        self.casda_conn_id = casda_conn_id
        self.poll_interval = poll_interval
        self.overlap_s = overlap_s
        self.start = start
        self._memory: dict[str, Any] = {}  # used when no asset_state_store is injected

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "rules": self.rules,
                "casda_conn_id": self.casda_conn_id,
                "poll_interval": self.poll_interval,
                "overlap_s": self.overlap_s,
                "start": self.start,
            },
        )

    async def _load(self) -> dict[str, Any]:
        store = self.asset_state_store
        value = await store.aget(STATE_KEY) if store is not None else self._memory.get(STATE_KEY)
        return dict(value) if isinstance(value, dict) else {"watermark": None, "announced": []}

    async def _save(self, state: dict[str, Any]) -> None:
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(STATE_KEY, state)
        else:
            self._memory[STATE_KEY] = state

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from beampipe_provider.hooks.casda import CasdaHook

        rules = SurveyRules.model_validate(self.rules)
        overlap = timedelta(seconds=self.overlap_s)
        client = await CasdaHook(casda_conn_id=self.casda_conn_id).aget_tap_client()
        try:
            while True:
                state = await self._load()
                watermark = _when(state["watermark"])
                since = watermark - overlap if watermark else _when(self.start)
                try:
                    found = await adiscover(client, rules, since=since)
                except ArchiveError as exc:
                    self.log.warning("CASDA poll failed, polling again in %.0f s: %s", self.poll_interval, exc)
                else:
                    announced = set(state["announced"])
                    fresh = [(event, datasets) for event, datasets in deposits(found) if event["key"] not in announced]
                    if fresh:
                        # One event per poll, not per deposit: Airflow 3.3 makes one DAG run per asset event burst
                        # and drops events that land while it creates that run (seen with three in 20 ms).
                        yield TriggerEvent(
                            {
                                "status": "success",
                                "deposits": [{**event, "datasets": datasets} for event, datasets in fresh],
                                "datasets": [d for _, datasets in fresh for d in datasets],
                            }
                        )
                        announced.update(event["key"] for event, _ in fresh)
                        # Saved at once: a triggerer stopped right after an event repeats at most that poll's.
                        await self._save({"watermark": state["watermark"], "announced": sorted(announced)})
                    keep_from = (found.watermark - overlap).isoformat() if found.watermark else None
                    await self._save(
                        {
                            "watermark": found.watermark.isoformat() if found.watermark else state["watermark"],
                            # Only keys still inside the next overlap window can be seen again.
                            "announced": sorted(k for k in announced if keep_from is None or k >= keep_from),
                        }
                    )
                await asyncio.sleep(self.poll_interval)
        finally:
            await client.aclose()


def deposits(found: Discovery) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One (event, its SBID's datasets) pair per observation_event row; the key sorts by event time."""
    by_sbid: dict[int, list[dict[str, Any]]] = {}
    for record in found.datasets:
        if record.sbid is not None:
            by_sbid.setdefault(record.sbid, []).append(record.model_dump(mode="json"))
    pairs = []
    for row in found.events:
        sbid = int(row["sbid"])
        if datasets := by_sbid.get(sbid):
            when = parse_timestamp(row["event_date"])
            stamp = when.isoformat() if when else ""
            event = {
                "key": f"{stamp}|{sbid}|{row['event_type']}",
                "sbid": sbid,
                "event_type": row["event_type"],
                "event_date": stamp,
            }
            pairs.append((event, datasets))
    return pairs
