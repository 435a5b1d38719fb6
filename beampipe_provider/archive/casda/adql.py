"""ADQL for CASDA discovery. Every value that reaches a query is validated here and quoted; nothing else builds ADQL.

Two phases: (1) `casda.observation_event` rows of the survey's projects after a watermark (minus an overlap
window, because events are not guaranteed to arrive in event_date order) or inside a [start, end) window for
backfills; (2) `ivoa.obscore` products of those SBIDs that pass the survey's rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

PROJECT_CODE = re.compile(r"[A-Z]{2}\d{3}")
EVENT_TYPES = frozenset({"DEPOSITED", "UPDATED", "RELEASED", "VALIDATED", "REJECTED", "DELETED"})
QUALITY_LEVELS = frozenset({"NOT_VALIDATED", "GOOD", "UNCERTAIN", "BAD"})
# Plain words for collections and product types; LIKE patterns add the wildcards % and _ only.
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+\-]{0,127}")
_LIKE = re.compile(r"[A-Za-z0-9_.%+\-]{1,200}")
_DID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")

EVENT_COLUMNS = ("sbid", "event_date", "event_type", "project_code", "obs_program")
PRODUCT_COLUMNS = (
    "obs_id",
    "obs_publisher_did",
    "obs_collection",
    "filename",
    "access_url",
    "access_estsize",
    "dataproduct_type",
    "obs_release_date",
    "quality_level",
)


class AdqlValueError(ValueError):
    """A value refused before it could reach the archive; names the field and the value."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(f"{field}: {value!r} refused ({rule}); nothing was sent to the archive")
        self.field = field


def _checked(field: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not pattern.fullmatch(value):
        raise AdqlValueError(field, value, rule)
    return value


def literal(value: str) -> str:
    """An ADQL string literal of an already validated value (quotes doubled all the same)."""
    return "'" + value.replace("'", "''") + "'"


def timestamp(field: str, value: datetime) -> str:
    if value.tzinfo is None:
        raise AdqlValueError(field, value, "needs a timezone")
    return literal(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(literal(v) for v in values)})"


def project_codes(values: Iterable[str]) -> list[str]:
    codes = sorted(
        {
            _checked("project_codes", v, PROJECT_CODE, "a project code is two capitals and three digits, e.g. AS102")
            for v in values
        }
    )
    if not codes:
        raise AdqlValueError("project_codes", [], "at least one project code")
    return codes


def event_types(values: Iterable[str]) -> list[str]:
    chosen = sorted(set(values))
    for value in chosen:
        if value not in EVENT_TYPES:
            raise AdqlValueError("event_types", value, f"one of {', '.join(sorted(EVENT_TYPES))}")
    if not chosen:
        raise AdqlValueError("event_types", [], "at least one event type")
    return chosen


def words(field: str, values: Iterable[str]) -> list[str]:
    return sorted({_checked(field, v, _WORD, "letters, digits, space, _ . + - only") for v in values})


def like_patterns(field: str, values: Iterable[str]) -> list[str]:
    return sorted({_checked(field, v, _LIKE, "letters, digits, _ . + - and the wildcards % _ only") for v in values})


def events_query(
    codes: Sequence[str],
    types: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_key: tuple[datetime, int] | None = None,
) -> str:
    """Events of the projects, oldest first: event_date >= since and < until; `after_key` continues a page."""
    where = [_in("project_code", project_codes(codes)), _in("event_type", event_types(types))]
    if since is not None:
        where.append(f"event_date >= {timestamp('since', since)}")
    if until is not None:
        where.append(f"event_date < {timestamp('until', until)}")
    if after_key is not None:
        when, sbid = after_key[0], int(after_key[1])
        at = timestamp("after", when)
        where.append(f"(event_date > {at} OR (event_date = {at} AND sbid > {sbid}))")
    # Every value in `where` went through the validators above.
    return f"SELECT {', '.join(EVENT_COLUMNS)} FROM casda.observation_event WHERE {' AND '.join(where)} " + (  # noqa: S608
        "ORDER BY event_date, sbid"
    )


def products_query(
    sbids: Iterable[int],
    *,
    collections: Sequence[str] = (),
    filename_patterns: Sequence[str] = (),
    dataproduct_types: Sequence[str] = (),
    released_before: datetime | None = None,
    after_did: str | None = None,
) -> str:
    """Deposited products of the SBIDs that pass the survey's rules, never BAD; `after_did` continues a page."""
    obs_ids = sorted({f"ASKAP-{int(sbid)}" for sbid in sbids})
    if not obs_ids:
        raise AdqlValueError("sbids", [], "at least one SBID")
    where = [_in("obs_id", obs_ids), "(quality_level IS NULL OR quality_level <> 'BAD')"]
    if collections:
        where.append(_in("obs_collection", words("collections", collections)))
    if dataproduct_types:
        where.append(_in("dataproduct_type", words("dataproduct_types", dataproduct_types)))
    if filename_patterns:
        likes = " OR ".join(
            f"filename LIKE {literal(p)}" for p in like_patterns("filename_patterns", filename_patterns)
        )
        where.append(f"({likes})")
    if released_before is not None:
        where.append(f"obs_release_date <= {timestamp('released_before', released_before)}")
    if after_did is not None:
        did = _checked("after_did", after_did, _DID, "an obs_publisher_did such as cube-1234")
        where.append(f"obs_publisher_did > {literal(did)}")
    # Every value in `where` went through the validators above.
    return f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM ivoa.obscore WHERE {' AND '.join(where)} " + (  # noqa: S608
        "ORDER BY obs_publisher_did"
    )
