"""CASDA as an `Archive`: the TAP discovery, SODA staging and verified downloads of this package, behind one face."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from beampipe_provider.archive.base import Archive, LocalFile, StagedFile
from beampipe_provider.archive.casda.discovery import SurveyRules, discover
from beampipe_provider.archive.casda.download import download
from beampipe_provider.archive.casda.staging import CasdaStager
from beampipe_provider.archive.casda.tap import TapClient
from beampipe_provider.ledger.records import DatasetRecord


class CasdaArchive:
    name = "casda"

    def __init__(
        self,
        *,
        tap_url: str,
        rules: SurveyRules | dict[str, Any],
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.rules = rules if isinstance(rules, SurveyRules) else SurveyRules.model_validate(rules)
        self._http = httpx.Client(timeout=120.0)
        self._tap = TapClient(tap_url, client=self._http)
        self._stager = (
            CasdaStager(username=username, password=password, client=self._http) if username and password else None
        )

    def __repr__(self) -> str:
        return f"CasdaArchive(tap_url={self._tap.tap_url!r}, survey={self.rules.survey!r})"

    def discover(self, *, since: datetime | None, until: datetime | None) -> list[DatasetRecord]:
        return discover(self._tap, self.rules, since=since, until=until).datasets

    def stage(self, datasets: Sequence[DatasetRecord], *, timeout_s: float) -> Sequence[StagedFile]:
        if self._stager is None:
            raise PermissionError("staging CASDA data needs an OPAL username and password")
        return self._stager.stage([d.access_url for d in datasets if d.access_url], timeout_s=timeout_s)

    def download(self, staged: StagedFile, directory: Path) -> LocalFile:
        return download(self._http, staged.href, directory, checksum_href=staged.checksum_href)


def _conforms(archive: CasdaArchive) -> Archive:
    return archive  # mypy checks here that CasdaArchive satisfies the Archive protocol
