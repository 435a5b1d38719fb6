"""A TAP client for any IVOA TAP service (CASDA first): one parser for both transports, typed errors.

CASDA reports query errors as HTTP 200 with `<INFO name="QUERY_STATUS" value="ERROR">`, and a result cut at MAXREC
with a trailing `QUERY_STATUS=OVERFLOW`: both are read here, so no caller can mistake them for a full answer.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from beampipe_provider.archive.errors import ArchiveQueryError, ArchiveUnavailable
from beampipe_provider.common.sansio import Done, advance

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TapResult:
    rows: list[dict[str, Any]]
    overflow: bool  # the archive stopped at MAXREC: there is more


def read_votable(content: bytes) -> Any:
    """astropy's VOTable parser, imported on first use: astropy costs ~0.4 s to import, and DAG files that only
    name a CASDA sensor or operator must parse fast."""
    from astropy.io import votable
    from astropy.io.votable.exceptions import VOWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VOWarning)
        return votable.parse(io.BytesIO(content), verify="ignore")


def _plain(value: Any) -> Any:
    """numpy scalars, masked and empty cells -> JSON-friendly Python values (None for null)."""
    import numpy as np  # loaded with astropy by now; a dictionary lookup

    if value is np.ma.masked or value is None:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return None if value == "" else value  # an empty <TD/> in a char column is a null


def parse_tap_response(status: int, content: bytes, query: str) -> TapResult:
    if status >= 500:
        raise ArchiveUnavailable(f"TAP answered HTTP {status}")
    if status >= 400:
        raise ArchiveQueryError(f"TAP refused the query with HTTP {status}: {content[:200]!r}")
    try:
        document = read_votable(content)
    except Exception as exc:  # astropy raises a zoo of XML errors for a truncated or malformed document
        raise ArchiveUnavailable(f"TAP sent a malformed VOTable: {exc}") from exc
    resource = document.resources[0] if document.resources else None
    infos = [*(resource.infos if resource else []), *document.infos]
    statuses = [(info.value, info.content) for info in infos if info.name == "QUERY_STATUS"]
    for value, content_text in statuses:
        if value == "ERROR":
            raise ArchiveQueryError(f"TAP query failed: {(content_text or '').strip()} -- query: {query}")
    overflow = any(value == "OVERFLOW" for value, _ in statuses)
    if resource is None or not resource.tables:
        return TapResult([], overflow)
    table = resource.tables[0].array
    names = list(table.dtype.names or ())
    rows = [{name: _plain(row[name]) for name in names} for row in table]
    return TapResult(rows, overflow)


def sync_request(tap_url: str, adql: str, maxrec: int) -> tuple[str, dict[str, str | int]]:
    """The URL and form of a TAP synchronous ADQL query (the same for both transports)."""
    return f"{tap_url}/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql, "MAXREC": maxrec}


class TapClient:
    """Synchronous TAP over httpx, for tasks."""

    def __init__(self, tap_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, client: httpx.Client | None = None):
        self.tap_url = tap_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout_s)

    def query(self, adql: str, maxrec: int) -> TapResult:
        try:
            url, form = sync_request(self.tap_url, adql, maxrec)
            response = self._client.post(url, data=form)
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"TAP at {self.tap_url} unreachable: {exc!r}") from exc
        return parse_tap_response(response.status_code, response.content, adql)

    def close(self) -> None:
        self._client.close()


class AsyncTapClient:
    """The same protocol for triggers: network I/O awaited, VOTables parsed in a thread.

    Not in a worker process: a spawned child re-imports the parent's __main__, which in Airflow's triggerer is the
    `airflow` command, and that dies on the triggerer's masked database URL (every poll then failed with
    BrokenProcessPool). In a thread the parser still shares the GIL, but the event loop gets it back at every
    switch interval (5 ms), so a large answer slows other triggers without stopping them."""

    def __init__(self, tap_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.tap_url = tap_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def query(self, adql: str, maxrec: int) -> TapResult:
        try:
            url, form = sync_request(self.tap_url, adql, maxrec)
            response = await self._client.post(url, data=form)
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"TAP at {self.tap_url} unreachable: {exc!r}") from exc
        return await asyncio.to_thread(parse_tap_response, response.status_code, response.content, adql)

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True)
class TapQuery:
    """One query a sans-I/O discovery asks for (see `run_queries`)."""

    adql: str
    maxrec: int


Queries = Generator[TapQuery, TapResult, T]


def run_queries(client: TapClient, steps: Queries[T]) -> T:
    """Drive sans-I/O discovery steps with the blocking client (tasks)."""
    step = advance(steps, None)
    while not isinstance(step, Done):
        step = advance(steps, client.query(step.adql, step.maxrec))
    return step.value


async def arun_queries(client: AsyncTapClient, steps: Queries[T]) -> T:
    """The same with the async client (triggers). Turning thousands of rows into records takes tens of ms, so the
    steps run off the event loop."""
    step = advance(steps, None)
    while not isinstance(step, Done):
        result = await client.query(step.adql, step.maxrec)
        step = await asyncio.to_thread(advance, steps, result)
    return step.value
