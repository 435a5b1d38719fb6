"""Discovery of new CASDA deposits: events after a watermark (or in a window), then their products.

The logic is written once, free of I/O: `discovery_steps` yields the ADQL it needs and receives each TapResult.
`discover` drives it with the blocking client (tasks), `adiscover` with the async one (triggers).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from beampipe_provider.archive.base import Deposit, Discovery
from beampipe_provider.archive.casda import adql
from beampipe_provider.archive.tap import AsyncTapClient, TapClient, TapQuery, TapResult, arun_queries, run_queries
from beampipe_provider.ledger.records import DatasetRecord, Survey

ARCHIVE = "casda"
# WALLABY's per-source products start with the source's common ID: HIPASSJ1318-21_A_beam26_10arc_split.ms.tar
DEFAULT_SOURCE_PATTERN = r"^(?P<source_id>[A-Za-z0-9][A-Za-z0-9+\-.]*?)_"


class SurveyRules(BaseModel):
    """What counts as a deposit to process for one survey. Every value is checked before any query is built."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    survey: Survey
    project_codes: list[str] = Field(min_length=1)
    event_types: list[str] = Field(default_factory=lambda: ["DEPOSITED", "UPDATED", "RELEASED"])
    collections: list[str] = Field(default_factory=list)
    filename_patterns: list[str] = Field(default_factory=list)
    dataproduct_types: list[str] = Field(default_factory=list)
    source_pattern: str = DEFAULT_SOURCE_PATTERN
    released_only: bool = False

    @field_validator("project_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        return adql.project_codes(value)

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return adql.event_types(value)

    @field_validator("collections", "dataproduct_types")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        return adql.words("value", value)

    @field_validator("filename_patterns")
    @classmethod
    def _likes(cls, value: list[str]) -> list[str]:
        return adql.like_patterns("filename_patterns", value)

    @field_validator("source_pattern")
    @classmethod
    def _source_pattern(cls, value: str) -> str:
        if "source_id" not in re.compile(value).groupindex:
            raise ValueError("needs a named group (?P<source_id>...)")
        return value


def parse_timestamp(value: str | datetime | None) -> datetime | None:
    """CASDA timestamps carry no zone and are UTC."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def to_dataset(row: dict[str, Any], rules: SurveyRules) -> DatasetRecord:
    filename = row.get("filename") or None
    match = re.match(rules.source_pattern, filename or "")
    obs_id = str(row.get("obs_id") or "")
    size_kb = row.get("access_estsize")
    return DatasetRecord(
        archive=ARCHIVE,
        dataset_id=row["obs_publisher_did"],
        survey=rules.survey,
        source_id=match.group("source_id") if match else None,
        sbid=int(obs_id.removeprefix("ASKAP-")) if obs_id.startswith("ASKAP-") else None,
        filename=filename,
        access_url=row.get("access_url") or None,
        size=int(size_kb) * 1024 if size_kb is not None else None,  # ObsCore access_estsize is in kB
        release_date=parse_timestamp(row.get("obs_release_date")),
        quality=row.get("quality_level") or None,
    )


def discovery_steps(
    rules: SurveyRules,
    *,
    since: datetime | None,
    until: datetime | None = None,
    now: datetime | None = None,
    page_size: int = 5000,
    sbid_batch: int = 200,
) -> Generator[TapQuery, TapResult, Discovery]:
    """Events in [since, until), paged by (event_date, sbid); then their products, paged by obs_publisher_did."""
    now = now or datetime.now(UTC)  # "released" means released by now, whichever driver runs the steps
    events: list[dict[str, Any]] = []
    queries = 0
    after: tuple[datetime, int] | None = None
    while True:
        result = yield TapQuery(
            adql.events_query(rules.project_codes, rules.event_types, since=since, until=until, after_key=after),
            page_size,
        )
        queries += 1
        events.extend(result.rows)
        if not result.overflow or not result.rows:
            break
        last = result.rows[-1]
        after = (_required_timestamp(last["event_date"]), int(last["sbid"]))

    sbids = sorted({int(e["sbid"]) for e in events})
    datasets: dict[str, DatasetRecord] = {}
    for start in range(0, len(sbids), sbid_batch):
        after_did: str | None = None
        while True:
            result = yield TapQuery(
                adql.products_query(
                    sbids[start : start + sbid_batch],
                    collections=rules.collections,
                    filename_patterns=rules.filename_patterns,
                    dataproduct_types=rules.dataproduct_types,
                    released_before=now if rules.released_only else None,
                    after_did=after_did,
                ),
                page_size,
            )
            queries += 1
            for row in result.rows:
                record = to_dataset(row, rules)
                datasets[record.dataset_id] = record
            if not result.overflow or not result.rows:
                break
            after_did = str(result.rows[-1]["obs_publisher_did"])
    stamps = [_required_timestamp(e["event_date"]) for e in events]
    found = list(datasets.values())
    return Discovery(
        deposits=deposits(events, found), datasets=found, watermark=max(stamps, default=None), queries=queries
    )


def deposits(events: list[dict[str, Any]], datasets: list[DatasetRecord]) -> list[Deposit]:
    """One deposit per observation_event row that brought products of the survey; the key sorts by event time."""
    by_sbid: dict[int, list[str]] = {}
    for record in datasets:
        if record.sbid is not None:
            by_sbid.setdefault(record.sbid, []).append(record.dataset_id)
    found = []
    for row in events:
        sbid = int(row["sbid"])
        if ids := by_sbid.get(sbid):
            stamp = _required_timestamp(row["event_date"]).isoformat()
            found.append(
                Deposit(
                    key=f"{stamp}|{sbid}|{row['event_type']}",
                    event_type=str(row["event_type"]),
                    event_date=stamp,
                    sbid=sbid,
                    block=str(sbid),
                    dataset_ids=ids,
                )
            )
    return found


def _required_timestamp(value: Any) -> datetime:
    when = parse_timestamp(value)
    if when is None:
        raise ValueError("an observation_event row without event_date")
    return when


def discover(client: TapClient, rules: SurveyRules, **kwargs: Any) -> Discovery:
    return run_queries(client, discovery_steps(rules, **kwargs))


async def adiscover(client: AsyncTapClient, rules: SurveyRules, **kwargs: Any) -> Discovery:
    return await arun_queries(client, discovery_steps(rules, **kwargs))
