"""Triggers that wait for an archive's deposits, whichever archive (`beampipe.archives`): they only read the
archive and yield events; tasks write the ledger. JSON kwargs only; the archive is built inside run().

DepositTrigger fires once for a task (a deferred sensor); DepositEventTrigger is an AssetWatcher's, polling for
ever. Events: `triggers.events.DepositsEvent` and `DepositAnnouncement`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from beampipe_provider.archive.base import Archive, Discovery
from beampipe_provider.archive.errors import ArchiveError, ArchiveQueryError, ArchiveUnavailable
from beampipe_provider.triggers.events import DepositAnnouncement, DepositsEvent

STATE_KEY = "casda_deposits"  # the event trigger's entry in its asset_state_store (the name predates other archives)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _archive(archive: str, rules: dict[str, Any], conn_id: str | None) -> Archive:
    from beampipe_provider.hooks.archive import ArchiveHook

    return await ArchiveHook(archive, archive_conn_id=conn_id, rules=rules).aget_archive()


class DepositTrigger(BaseTrigger):
    """Fires once with every dataset found in [since, until), as soon as they come from `min_sources` sources or
    `ready_at` has passed (then possibly with none)."""

    def __init__(
        self,
        *,
        rules: dict[str, Any],
        since: str | None,
        until: str | None,
        poll_interval: float,
        archive: str = "casda",
        archive_conn_id: str | None = "casda_default",
        deadline: str | None = None,
        min_sources: int = 1,
        ready_at: str | None = None,
    ) -> None:
        super().__init__()
        self.rules = rules
        self.since = since
        self.until = until
        self.poll_interval = poll_interval
        self.archive = archive
        self.archive_conn_id = archive_conn_id
        self.deadline = deadline
        self.min_sources = min_sources
        self.ready_at = ready_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = ("rules", "since", "until", "poll_interval", "archive", "archive_conn_id", "deadline", "min_sources")
        kwargs = {name: getattr(self, name) for name in (*names, "ready_at")}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline, ready_at = _when(self.deadline), _when(self.ready_at)
        archive = await _archive(self.archive, self.rules, self.archive_conn_id)
        try:
            while True:
                try:
                    found = await archive.adiscover(since=_when(self.since), until=_when(self.until))
                except ArchiveQueryError as exc:
                    yield DepositsEvent("error", str(exc)).event()
                    return
                except ArchiveUnavailable as exc:
                    self.log.warning("The archive is unavailable, polling again in %.0f s: %s", self.poll_interval, exc)
                else:
                    if found.ready(min_sources=self.min_sources, now=datetime.now(UTC), ready_at=ready_at):
                        yield _found(found).event()
                        return
                if deadline is not None and datetime.now(UTC) >= deadline:
                    yield DepositsEvent("timeout", f"no deposits before {self.deadline}").event()
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            await archive.aclose()


def _found(found: Discovery) -> DepositsEvent:
    return DepositsEvent(
        "success",
        f"{len(found.datasets)} datasets in {len(found.deposits)} deposits",
        [d.model_dump(mode="json") for d in found.datasets],
        found.watermark.isoformat() if found.watermark else None,
    )


class DepositEventTrigger(BaseEventTrigger):
    """For `Asset(watchers=[AssetWatcher(name=..., trigger=DepositEventTrigger(...))])`: polls the archive forever and
    yields one event per poll that found new deposits, which schedules the asset's DAGs.

    The watermark and the deposits already announced inside the overlap window live in the triggerer-injected
    `asset_state_store`, so a triggerer restart neither misses nor repeats a deposit. Kwargs are stable (they
    identify the watcher): archive, rules, connection, poll interval, overlap and the first poll's start.
    """

    def __init__(
        self,
        *,
        rules: dict[str, Any],
        archive: str = "casda",
        archive_conn_id: str | None = "casda_default",
        poll_interval: float = 300.0,
        overlap_s: float = 86_400.0,
        start: str | None = None,
    ) -> None:
        super().__init__()
        self.rules = rules
        self.archive = archive
        self.archive_conn_id = archive_conn_id
        self.poll_interval = poll_interval
        self.overlap_s = overlap_s
        self.start = start
        self._memory: dict[str, Any] = {}  # used when no asset_state_store is injected

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = ("rules", "archive", "archive_conn_id", "poll_interval", "overlap_s", "start")
        return f"{type(self).__module__}.{type(self).__qualname__}", {name: getattr(self, name) for name in names}

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
        overlap = timedelta(seconds=self.overlap_s)
        archive = await _archive(self.archive, self.rules, self.archive_conn_id)
        try:
            while True:
                state = await self._load()
                watermark = _when(state["watermark"])
                since = watermark - overlap if watermark else _when(self.start)
                try:
                    found = await archive.adiscover(since=since, until=None)
                except ArchiveError as exc:
                    self.log.warning("The archive poll failed, polling again in %.0f s: %s", self.poll_interval, exc)
                else:
                    announced = set(state["announced"])
                    fresh = [d for d in found.deposits if d.key not in announced]
                    if fresh:
                        # One event per poll, not per deposit: Airflow 3.3 makes one DAG run per asset event burst
                        # and drops events that land while it creates that run (seen with three in 20 ms).
                        yield _announcement(found, fresh).event()
                        announced.update(d.key for d in fresh)
                        # Saved at once: a triggerer stopped right after an event repeats at most that poll's.
                        await self._save({"watermark": state["watermark"], "announced": sorted(announced)})
                    keep_from = (found.watermark - overlap).isoformat() if found.watermark else None
                    await self._save(
                        {
                            "watermark": found.watermark.isoformat() if found.watermark else state["watermark"],
                            # Only keys still inside the next overlap window can be seen again.
                            "announced": sorted(a for a in announced if keep_from is None or a >= keep_from),
                        }
                    )
                await asyncio.sleep(self.poll_interval)
        finally:
            await archive.aclose()


def _announcement(found: Discovery, fresh: list[Any]) -> DepositAnnouncement:
    records = {d.dataset_id: d.model_dump(mode="json") for d in found.datasets}
    deposits = []
    for deposit in fresh:
        fields = asdict(deposit)
        ids = fields.pop("dataset_ids")
        deposits.append({**fields, "datasets": [records[i] for i in ids if i in records]})
    return DepositAnnouncement(deposits, [d for deposit in deposits for d in deposit["datasets"]])
