"""CasdaDepositTrigger: polls CASDA on the triggerer until deposits appear in a window. Reads only, writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from beampipe_provider.archive.casda.discovery import SurveyRules, adiscover
from beampipe_provider.archive.casda.tap import ArchiveQueryError, ArchiveUnavailable


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class CasdaDepositTrigger(BaseTrigger):
    """Fires once with every dataset found in [since, until). JSON kwargs only; the hook is built inside run().

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
    ) -> None:
        super().__init__()
        self.rules = rules
        self.since = since
        self.until = until
        self.casda_conn_id = casda_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline

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
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from beampipe_provider.hooks.casda import CasdaHook

        rules = SurveyRules.model_validate(self.rules)
        deadline = _when(self.deadline)
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
                    if found.datasets:
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
