"""CASDA as an `Archive`: TAP discovery, SODA staging negotiation and verified fetches, behind one face."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from beampipe_provider.archive.base import Archive, ConnectionFields, Discovery, FetchItem, LocalFile, StagingPlan
from beampipe_provider.archive.casda.discovery import SurveyRules, adiscover, discover
from beampipe_provider.archive.casda.endpoints import CasdaEndpoints
from beampipe_provider.archive.casda.staging import CasdaStager
from beampipe_provider.archive.clients import ArchiveClients
from beampipe_provider.archive.errors import NotAuthorised, UnsafeFileName
from beampipe_provider.archive.fetch import fetch, staged_names
from beampipe_provider.ledger.records import DatasetRecord


class CasdaArchive(ArchiveClients):
    name = "casda"
    Rules: ClassVar[type[BaseModel]] = SurveyRules

    def __init__(self, *, rules: Mapping[str, Any] | SurveyRules | None, connection: ConnectionFields) -> None:
        """`rules` may be empty for staging alone (it needs no survey rules)."""
        self._rules = SurveyRules.model_validate(rules) if rules and not isinstance(rules, SurveyRules) else rules
        self.endpoints = CasdaEndpoints.of(connection)

    def __repr__(self) -> str:
        return f"CasdaArchive({self.endpoints!r})"

    @property
    def rules(self) -> SurveyRules:
        if not isinstance(self._rules, SurveyRules):
            raise ValueError("discovery needs the survey's rules (project codes, ...)")
        return self._rules

    def discover(self, *, since: datetime | None, until: datetime | None) -> Discovery:
        return discover(self.tap(self.endpoints.tap_url), self.rules, since=since, until=until)

    async def adiscover(self, *, since: datetime | None, until: datetime | None) -> Discovery:
        return await adiscover(await self.async_tap(self.endpoints.tap_url), self.rules, since=since, until=until)

    def plan_staging(self, datasets: Sequence[DatasetRecord], *, timeout_s: float) -> StagingPlan:
        """One SODA job for all the run's products; each result paired with its `.checksum`. Two products with the
        same file name would overwrite each other: that is refused before anything is fetched."""
        if not (self.endpoints.username and self.endpoints.password):
            raise NotAuthorised("staging CASDA data needs an OPAL username and password in the connection")
        scope = self.endpoints.credential_scope()
        for record in datasets:  # nothing is sent anywhere before every product's link is known to be CASDA's
            if record.access_url and (why := scope.refusal(record.access_url)):
                raise NotAuthorised(f"dataset {record.dataset_id}: refusing its access_url: {why}")
        stager = CasdaStager(
            username=self.endpoints.username, password=self.endpoints.password, scope=scope, client=self.http
        )
        results = stager.stage([d.access_url for d in datasets if d.access_url], timeout_s=timeout_s)
        by_name = {d.filename: d for d in datasets if d.filename}
        items = []
        for result in results:
            name, local = staged_names(result.href)
            dataset = by_name.get(name)
            items.append(
                FetchItem(
                    dataset_id=dataset.dataset_id if dataset else name,
                    url=result.href,
                    local_name=local,
                    archive_name=name,
                    checksum_url=result.checksum_href,
                    size=None,  # access_estsize is an estimate in kB: the checksum carries the exact size
                )
            )
        names = [item.local_name for item in items]
        if clashes := sorted({n for n in names if names.count(n) > 1}):
            raise UnsafeFileName(f"several products share the file name(s) {', '.join(clashes)}: refusing to overwrite")
        return StagingPlan(items)

    def fetch(self, item: FetchItem, directory: Path) -> LocalFile:
        return fetch(self.http, item, directory)


def _conforms(archive: CasdaArchive) -> Archive:
    return archive  # mypy checks here that CasdaArchive satisfies the Archive protocol
