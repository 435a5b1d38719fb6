"""Discovery on a generic ObsCore service: products whose watermark column falls in the poll's window.

As for CASDA, the logic is written once, free of I/O (`discovery_steps` yields ADQL and receives TapResults), and
driven by the blocking client (`discover`) or the async one (`adiscover`).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from beampipe_provider.archive.base import Deposit, Discovery
from beampipe_provider.archive.casda.adql import like_patterns, words
from beampipe_provider.archive.casda.discovery import parse_timestamp
from beampipe_provider.archive.obscore import adql
from beampipe_provider.archive.obscore.adql import NameColumn, WatermarkColumn
from beampipe_provider.archive.tap import AsyncTapClient, TapClient, TapQuery, TapResult, arun_queries, run_queries
from beampipe_provider.ledger.records import DatasetRecord, Survey

ARCHIVE = "obscore"
# The whole value must be one valid source ID (letters, digits, + - _ .): target names with spaces give no source.
DEFAULT_SOURCE_PATTERN = r"^(?P<source_id>[A-Za-z0-9][A-Za-z0-9+\-_.]*)$"
_SOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-_.]{0,63}")
EVENT_TYPES = {"obs_release_date": "RELEASED", "t_max": "OBSERVED"}


class ObscoreRules(BaseModel):
    """A survey's rules for a generic ObsCore service. Every value is checked before any query is built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    survey: Survey
    tap_url: str
    # A DataLink service to ask `{datalink_url}?ID=<obs_publisher_did>` when access_url is not a DataLink document.
    datalink_url: str | None = None
    collections: list[str] = Field(default_factory=list)
    dataproduct_types: list[str] = Field(default_factory=list)
    # ObsCore has no file-name column: the name is the last segment (after / ? or #) of this column's value.
    filename_column: NameColumn = "obs_publisher_did"
    filename_patterns: list[str] = Field(default_factory=list)  # ADQL LIKE patterns on the whole filename_column
    watermark: WatermarkColumn = "obs_release_date"
    overlap: timedelta = timedelta(hours=1)
    source_field: Literal["target_name", "filename"] = "target_name"
    source_pattern: str = DEFAULT_SOURCE_PATTERN
    page_size: int = Field(default=5000, ge=1, le=100_000)

    @field_validator("tap_url", "datalink_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("an http(s) URL with a host and no query or fragment")
        return value.rstrip("/")

    @field_validator("collections", "dataproduct_types")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        return words("value", value)

    @field_validator("filename_patterns")
    @classmethod
    def _likes(cls, value: list[str]) -> list[str]:
        return like_patterns("filename_patterns", value)

    @field_validator("overlap")
    @classmethod
    def _overlap(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("source_pattern")
    @classmethod
    def _source_pattern(cls, value: str) -> str:
        if "source_id" not in re.compile(value).groupindex:
            raise ValueError("needs a named group (?P<source_id>...)")
        return value


def name_of(value: str | None) -> str | None:
    """The product's file name: the last segment after / ? or # of an identifier or URL, unquoted once."""
    if not value:
        return None
    name = re.split(r"[/?#=]", unquote(value).rstrip("/"))[-1]
    return name or None


def watermark_of(row: dict[str, Any], column: WatermarkColumn) -> datetime | None:
    value = row.get(column)
    if value is None:
        return None
    return adql.from_mjd(float(value)) if column == "t_max" else parse_timestamp(value)


def to_dataset(row: dict[str, Any], rules: ObscoreRules) -> DatasetRecord:
    filename = name_of(row.get(rules.filename_column))
    subject = row.get("target_name") if rules.source_field == "target_name" else filename
    match = re.search(rules.source_pattern, str(subject or ""))
    source = match.group("source_id") if match else None
    size_kb = row.get("access_estsize")
    return DatasetRecord(
        archive=ARCHIVE,
        dataset_id=row["obs_publisher_did"],
        survey=rules.survey,
        source_id=source if source and _SOURCE_ID.fullmatch(source) else None,
        filename=filename,
        access_url=row.get("access_url") or None,
        size=int(size_kb) * 1024 if size_kb is not None else None,  # ObsCore access_estsize is in kB
        release_date=parse_timestamp(row.get("obs_release_date")),
    )


def discovery_steps(
    rules: ObscoreRules, *, since: datetime | None, until: datetime | None = None, now: datetime | None = None
) -> Generator[TapQuery, TapResult, Discovery]:
    """Products with watermark in [since - overlap, min(until, now)): nothing released (or observed) in the future
    counts yet, so the watermark never runs ahead of products still to be announced."""
    now = now or datetime.now(UTC)
    start = since - rules.overlap if since is not None else None
    end = min(until, now) if until is not None else now
    rows: list[dict[str, Any]] = []
    after: tuple[datetime | float, str] | None = None
    queries = 0
    while True:
        query = adql.products_query(
            watermark=rules.watermark,
            since=start,
            until=end,
            collections=rules.collections,
            dataproduct_types=rules.dataproduct_types,
            name_column=rules.filename_column,
            filename_patterns=rules.filename_patterns,
            after=after,
        )
        result = yield TapQuery(query, rules.page_size)
        queries += 1
        rows.extend(result.rows)
        if not result.overflow or not result.rows:
            break
        last = result.rows[-1]
        # t_max continues from the raw MJD the service sent: a round trip through datetime may not compare equal.
        key = float(last["t_max"]) if rules.watermark == "t_max" else _required(last, rules.watermark)
        after = (key, str(last["obs_publisher_did"]))
    records = {str(row["obs_publisher_did"]): (row, to_dataset(row, rules)) for row in rows}
    stamps = [_required(row, rules.watermark) for row, _ in records.values()]
    return Discovery(
        deposits=deposits(list(records.values()), rules.watermark),
        datasets=[record for _, record in records.values()],
        watermark=max(stamps, default=None),
        queries=queries,
    )


def deposits(found: list[tuple[dict[str, Any], DatasetRecord]], column: WatermarkColumn) -> list[Deposit]:
    """One deposit per (obs_id, watermark value): the products of one observation released (or ended) together.
    The key sorts by time and is the same on every poll that sees them, so overlap re-reads are recognised."""
    groups: dict[tuple[datetime, str], list[str]] = {}
    for row, record in found:
        groups.setdefault((_required(row, column), str(row.get("obs_id") or "")), []).append(record.dataset_id)
    event = EVENT_TYPES[column]
    return [
        Deposit(
            key=f"{when.isoformat()}|{obs_id}|{event}",
            event_type=event,
            event_date=when.isoformat(),
            block=obs_id,
            dataset_ids=sorted(ids),
        )
        for (when, obs_id), ids in sorted(groups.items())
    ]


def _required(row: dict[str, Any], column: WatermarkColumn) -> datetime:
    when = watermark_of(row, column)
    if when is None:
        raise ValueError(f"an ivoa.obscore row without {column}")
    return when


def discover(client: TapClient, rules: ObscoreRules, **kwargs: Any) -> Discovery:
    return run_queries(client, discovery_steps(rules, **kwargs))


async def adiscover(client: AsyncTapClient, rules: ObscoreRules, **kwargs: Any) -> Discovery:
    return await arun_queries(client, discovery_steps(rules, **kwargs))
