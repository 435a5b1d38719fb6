"""ADQL for ObsCore discovery. Every value is validated and quoted here (with CASDA's generic helpers); nothing else
builds ObsCore ADQL.

A generic ObsCore service has no event table: a product counts as deposited when its watermark column (the release
date, or the end of the observation) falls inside the poll's window. The window is [since, until) on that column,
read oldest first and continued by keyset on (watermark column, obs_publisher_did) when the service says OVERFLOW.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from beampipe_provider.archive.casda.adql import AdqlValueError, like_patterns, literal, timestamp, words

WatermarkColumn = Literal["obs_release_date", "t_max"]
NameColumn = Literal["obs_publisher_did", "obs_id", "access_url"]
WATERMARK_COLUMNS: tuple[str, ...] = ("obs_release_date", "t_max")
NAME_COLUMNS: tuple[str, ...] = ("obs_publisher_did", "obs_id", "access_url")
MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
# An IVOA identifier or URI: printable ASCII URI characters, never a quote or a backslash.
_DID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~:/?#\[\]@!$&()*+,;=%\-]{0,1023}")

PRODUCT_COLUMNS = (
    "obs_id",
    "obs_publisher_did",
    "obs_collection",
    "dataproduct_type",
    "access_url",
    "access_format",
    "access_estsize",
    "target_name",
    "t_max",
    "obs_release_date",
)


def to_mjd(when: datetime) -> float:
    """ObsCore's t_min/t_max are MJD (days since 1858-11-17 UTC)."""
    if when.tzinfo is None:
        raise AdqlValueError("t_max", when, "needs a timezone")
    return (when.astimezone(UTC) - MJD_EPOCH).total_seconds() / 86400.0


def from_mjd(mjd: float) -> datetime:
    return MJD_EPOCH + timedelta(days=float(mjd))


def did(value: str) -> str:
    if not isinstance(value, str) or not _DID.fullmatch(value):
        raise AdqlValueError("obs_publisher_did", value, "an IVOA identifier: URI characters, no quotes")
    return value


def bound(column: WatermarkColumn, value: datetime | float) -> str:
    """A watermark value as ADQL: an ISO timestamp for obs_release_date, an MJD number for t_max. A keyset continues
    from the raw MJD the service sent (a float), since a round trip through datetime may not compare equal."""
    if column == "t_max":
        mjd = value if isinstance(value, float | int) else to_mjd(value)
        if not math.isfinite(mjd):
            raise AdqlValueError(column, value, "a finite MJD")
        return repr(float(mjd))
    if not isinstance(value, datetime):
        raise AdqlValueError(column, value, "a timestamp")
    return timestamp(column, value)


def _column(value: str, allowed: Sequence[str], field: str) -> str:
    if value not in allowed:
        raise AdqlValueError(field, value, f"one of {', '.join(allowed)}")
    return value


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(literal(v) for v in values)})"


def products_query(
    *,
    watermark: WatermarkColumn,
    since: datetime | None,
    until: datetime,
    collections: Sequence[str] = (),
    dataproduct_types: Sequence[str] = (),
    name_column: NameColumn = "obs_publisher_did",
    filename_patterns: Sequence[str] = (),
    after: tuple[datetime | float, str] | None = None,
) -> str:
    """Products whose watermark is in [since, until), oldest first; `after` continues a page by keyset."""
    column = _column(watermark, WATERMARK_COLUMNS, "watermark")
    where = [f"{column} IS NOT NULL", f"{column} < {bound(watermark, until)}"]
    if since is not None:
        where.append(f"{column} >= {bound(watermark, since)}")
    if collections:
        where.append(_in("obs_collection", words("collections", collections)))
    if dataproduct_types:
        where.append(_in("dataproduct_type", words("dataproduct_types", dataproduct_types)))
    if filename_patterns:
        name = _column(name_column, NAME_COLUMNS, "filename_column")
        likes = " OR ".join(f"{name} LIKE {literal(p)}" for p in like_patterns("filename_patterns", filename_patterns))
        where.append(f"({likes})")
    if after is not None:
        at, last = bound(watermark, after[0]), literal(did(after[1]))
        where.append(f"({column} > {at} OR ({column} = {at} AND obs_publisher_did > {last}))")
    # Every value in `where` went through the validators above.
    return f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM ivoa.obscore WHERE {' AND '.join(where)} " + (  # noqa: S608
        f"ORDER BY {column}, obs_publisher_did"
    )
