"""A generic IVOA ObsCore + DataLink service as an `Archive`: windowed TAP discovery, DataLink/SODA staging
negotiation and verified fetches. Where it is comes from the survey's rules (`tap_url`); the connection only
carries optional credentials for it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from beampipe_provider.archive.base import Archive, ConnectionFields, Discovery, FetchItem, LocalFile, StagingPlan
from beampipe_provider.archive.fetch import fetch
from beampipe_provider.archive.obscore.discovery import ObscoreRules, adiscover, discover
from beampipe_provider.archive.obscore.staging import ObscoreStager
from beampipe_provider.archive.tap import AsyncTapClient, TapClient
from beampipe_provider.ledger.records import DatasetRecord

HTTP_TIMEOUT_S = 120.0


class ObscoreArchive:
    name = "obscore"
    Rules: ClassVar[type[BaseModel]] = ObscoreRules  # the protocol's type: a ClassVar's type is invariant

    def __init__(self, *, rules: Mapping[str, Any] | ObscoreRules, connection: ConnectionFields) -> None:
        self.rules = rules if isinstance(rules, ObscoreRules) else ObscoreRules.model_validate(rules)
        self.connection = connection
        self._http: httpx.Client | None = None
        self._async_tap: AsyncTapClient | None = None
        self.poll_interval_s = 2.0  # the SODA queue's first wait; doubles up to max_poll_interval_s
        self.max_poll_interval_s = 30.0

    def __repr__(self) -> str:
        return f"ObscoreArchive(tap_url={self.rules.tap_url!r}, survey={self.rules.survey!r})"

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=HTTP_TIMEOUT_S)
        return self._http

    def discover(self, *, since: datetime | None, until: datetime | None) -> Discovery:
        return discover(TapClient(self.rules.tap_url, client=self.http), self.rules, since=since, until=until)

    async def adiscover(self, *, since: datetime | None, until: datetime | None) -> Discovery:
        if self._async_tap is None:  # building an HTTP client reads the CA bundle: off the event loop
            self._async_tap = await asyncio.to_thread(AsyncTapClient, self.rules.tap_url)
        return await adiscover(self._async_tap, self.rules, since=since, until=until)

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

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        if self._async_tap is not None:
            await self._async_tap.aclose()
            self._async_tap = None
        self.close()


def _conforms(archive: ObscoreArchive) -> Archive:
    return archive  # mypy checks here that ObscoreArchive satisfies the Archive protocol
