"""A generic IVOA ObsCore + DataLink service as an `Archive`: windowed TAP discovery, DataLink/SODA staging
negotiation and verified fetches. Where it is comes from the survey's rules (`tap_url`); the connection only
carries optional credentials for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from beampipe_provider.archive.base import Archive, ConnectionFields, Discovery, FetchItem, LocalFile, StagingPlan
from beampipe_provider.archive.clients import ArchiveClients
from beampipe_provider.archive.fetch import fetch
from beampipe_provider.archive.obscore.discovery import ObscoreRules, adiscover, discover
from beampipe_provider.archive.obscore.staging import ObscoreStager
from beampipe_provider.ledger.records import DatasetRecord


class ObscoreArchive(ArchiveClients):
    name = "obscore"
    Rules: ClassVar[type[BaseModel]] = ObscoreRules  # the protocol's type: a ClassVar's type is invariant

    def __init__(self, *, rules: Mapping[str, Any] | ObscoreRules, connection: ConnectionFields) -> None:
        self.rules = rules if isinstance(rules, ObscoreRules) else ObscoreRules.model_validate(rules)
        self.connection = connection
        self.poll_interval_s = 2.0  # the SODA queue's first wait; doubles up to max_poll_interval_s
        self.max_poll_interval_s = 30.0

    def __repr__(self) -> str:
        return f"ObscoreArchive(tap_url={self.rules.tap_url!r}, survey={self.rules.survey!r})"

    def discover(self, *, since: datetime | None, until: datetime | None) -> Discovery:
        return discover(self.tap(self.rules.tap_url), self.rules, since=since, until=until)

    async def adiscover(self, *, since: datetime | None, until: datetime | None) -> Discovery:
        return await adiscover(await self.async_tap(self.rules.tap_url), self.rules, since=since, until=until)

    def plan_staging(self, datasets: Sequence[DatasetRecord], *, timeout_s: float) -> StagingPlan:
        stager = ObscoreStager(
            rules=self.rules,
            connection=self.connection,
            client=self.http,
            poll_interval_s=self.poll_interval_s,
            max_poll_interval_s=self.max_poll_interval_s,
        )
        items, jobs = stager.plan(datasets, timeout_s=timeout_s)
        return StagingPlan(items, job=", ".join(jobs) or None)

    def fetch(self, item: FetchItem, directory: Path) -> LocalFile:
        """Without credentials: they belong to the DataLink and SODA services, not to wherever the bytes are."""
        return fetch(self.http, item, directory)


def _conforms(archive: ObscoreArchive) -> Archive:
    return archive  # mypy checks here that ObscoreArchive satisfies the Archive protocol
