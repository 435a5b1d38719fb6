"""Files operators hand to the ledger: source lists (CSV or JSON) and dataset lists (JSON).

A bad file is rejected whole, with every bad line or entry named (where, field, reason): nothing half-imported.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from beampipe_provider.common.limits import MAX_FIELD_CHARS, MAX_ROWS, InputTooLarge, check_text, load_json
from beampipe_provider.ledger.records import DatasetRecord, SourceId, SourceRecord

# Column names are matched case-insensitively; aliases accept the WALLABY target list (Name, RA, Dec, Vsys) as is.
COLUMN_ALIASES = {
    "source_id": "source_id",
    "name": "source_id",
    "enabled": "enabled",
    "ra": "ra",
    "dec": "dec",
    "vsys": "vsys_kms",
    "vsys_kms": "vsys_kms",
    "description": "description",
}

_RA = re.compile(r"(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")
_DEC = re.compile(r"([+-]?)(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")


def _sexagesimal_or_degrees(value: str, pattern: re.Pattern[str], first_max: int, degrees: tuple[float, float]) -> str:
    if match := pattern.fullmatch(value):
        *_, first, minutes, seconds = match.groups()
        if int(first) > first_max or int(minutes) >= 60 or float(seconds) >= 60:
            raise ValueError(f"{value!r} is out of range")
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither sexagesimal nor decimal degrees") from None
    if not degrees[0] <= number <= degrees[1]:
        raise ValueError(f"{value!r} is outside {degrees[0]}..{degrees[1]} degrees")
    return value


class SourceRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source_id: SourceId
    enabled: bool = True
    ra: str | None = None
    dec: str | None = None
    vsys_kms: float | None = Field(default=None, ge=-1000, le=100_000, allow_inf_nan=False)
    description: str | None = Field(default=None, max_length=1000)

    @field_validator("vsys_kms", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # JSON true/false would pass as 1/0
            raise ValueError("a number, not true or false")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        # NUL cannot be stored in PostgreSQL text, and no control character belongs in a one-line description.
        return None if value is None else check_text(value, "", max_chars=1000)

    @field_validator("ra")
    @classmethod
    def _ra(cls, value: str | None) -> str | None:
        return None if value is None else _sexagesimal_or_degrees(value, _RA, 23, (0.0, 360.0))

    @field_validator("dec")
    @classmethod
    def _dec(cls, value: str | None) -> str | None:
        return None if value is None else _sexagesimal_or_degrees(value, _DEC, 90, (-90.0, 90.0))

    def to_record(self) -> SourceRecord:
        meta = self.model_dump(exclude={"source_id", "enabled"}, exclude_none=True)
        return SourceRecord(source_id=self.source_id, enabled=self.enabled, metadata=meta)


class SourceIn(SourceRow):
    """One source as a JSON body: typed values only (`"enabled": 0` or `"vsys_kms": "1500"` is refused, as the
    API's schema says), where a CSV cell is text and is parsed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


@dataclass(frozen=True)
class Problem:
    where: str  # "line 7" for CSV, "entry 3" for JSON
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}, {self.field}: {self.reason}"


class RecordFileError(ValueError):
    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{name}: {len(problems)} problem(s), nothing imported:\n{lines}")


def load_source_list(path: str | Path) -> list[SourceRecord]:
    path = Path(path)
    text = _read_text(path)
    return parse_source_list(text, name=str(path), fmt="json" if path.suffix.lower() == ".json" else "csv")


def parse_source_list(text: str, *, name: str, fmt: str) -> list[SourceRecord]:
    problems: list[Problem] = []
    rows = _json_rows(text, problems) if fmt == "json" else _csv_rows(text, problems)
    records: list[SourceRecord] = []
    first_seen: dict[str, str] = {}
    for where, raw in rows:
        # IDs that differ only in case are one source typed twice (HIPASSJ1300-15a / -15A).
        folded = str(raw.get("source_id", "")).strip().casefold()
        if folded and folded in first_seen:
            problems.append(Problem(where, "source_id", f"duplicate of {first_seen[folded]} ({raw['source_id']})"))
            continue
        first_seen[folded] = where
        try:
            records.append(SourceRow.model_validate(raw).to_record())
        except ValidationError as exc:
            problems.extend(_problems(where, exc))
    if not records and not problems:
        problems.append(Problem("line 1", "-", "the file lists no sources"))
    if problems:
        raise RecordFileError(name, problems)
    return records


def load_dataset_file(path: str | Path) -> list[DatasetRecord]:
    """A JSON list of dataset records (or {"datasets": [...]}), fields as in DatasetRecord."""
    path = Path(path)
    problems: list[Problem] = []
    records: list[DatasetRecord] = []
    for where, raw in _json_entries(_read_text(path), "datasets", problems):
        try:
            records.append(DatasetRecord.model_validate(raw))
        except ValidationError as exc:
            problems.extend(_problems(where, exc))
    if problems:
        raise RecordFileError(str(path), problems)
    return records


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecordFileError(str(path), [Problem("line 1", "-", f"not UTF-8 text: {exc.reason}")]) from None
    except OSError as exc:
        raise RecordFileError(str(path), [Problem("line 1", "-", f"cannot read: {exc.strerror}")]) from None


def _problems(where: str, exc: ValidationError) -> list[Problem]:
    return [
        Problem(where, ".".join(map(str, e["loc"])) or "-", e["msg"].removeprefix("Value error, "))
        for e in exc.errors()
    ]


def _csv_rows(text: str, problems: list[Problem]) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        yield from _csv_cells(reader, problems)
    except csv.Error as exc:  # a field over the csv module's own limit, a NUL byte, ...
        problems.append(Problem(f"line {reader.line_num}", "-", f"not CSV: {exc}"))


def _csv_cells(reader: Any, problems: list[Problem]) -> Iterator[tuple[str, dict[str, Any]]]:
    header = next(reader, None)
    if header is None:
        return
    columns = [COLUMN_ALIASES.get(h.strip().lower()) for h in header]
    for raw, column in zip(header, columns, strict=True):
        if column is None:
            problems.append(Problem("line 1", raw.strip() or "(blank)", f"unknown column; known: {_known()}"))
    if "source_id" not in columns:
        problems.append(Problem("line 1", "source_id", "missing column (source_id or Name)"))
    if problems:
        return
    for cells in reader:
        where = f"line {reader.line_num}"
        if not any(cell.strip() for cell in cells):
            continue
        if len(problems) > 100:  # enough to fix the file; the rest would only be more of the same
            return
        if reader.line_num > MAX_ROWS + 1:
            problems.append(Problem(where, "-", f"more than {MAX_ROWS} rows"))
            return
        if long := next((c for c in cells if len(c) > MAX_FIELD_CHARS), None):
            problems.append(Problem(where, "-", f"a cell of {len(long)} characters (at most {MAX_FIELD_CHARS})"))
            continue
        if len(cells) != len(columns):
            problems.append(Problem(where, "-", f"{len(cells)} cells, the header has {len(columns)}"))
            continue
        # Blank optional cells mean "not given"; a blank ID is kept so it is reported as empty.
        yield where, {c: v for c, v in zip(columns, cells, strict=True) if c and (v.strip() or c == "source_id")}


def _json_entries(text: str, key: str, problems: list[Problem]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        problems.append(Problem(f"line {exc.lineno}", "-", f"not JSON: {exc.msg}"))
        return
    except InputTooLarge as exc:
        problems.append(Problem("line 1", "-", f"not accepted: {exc}"))
        return
    entries = data.get(key) if isinstance(data, Mapping) else data
    if not isinstance(entries, list):
        problems.append(Problem("entry 0", "-", f'expected a list of {key} or {{"{key}": [...]}}'))
        return
    if len(entries) > MAX_ROWS:
        problems.append(Problem("entry 0", "-", f"more than {MAX_ROWS} {key}"))
        return
    for index, entry in enumerate(entries, start=1):
        if isinstance(entry, Mapping) and (bad := _nul_field(entry)):
            problems.append(Problem(f"entry {index}", bad, "contains NUL (no database stores it as text)"))
        elif isinstance(entry, Mapping):
            yield f"entry {index}", entry
        else:
            problems.append(Problem(f"entry {index}", "-", "expected an object"))


def _nul_field(entry: Mapping[str, Any]) -> str | None:
    """The first field whose value (or a string within it) holds NUL; PostgreSQL text and jsonb cannot."""
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in entry.items()]
    while stack:
        key, value = stack.pop()
        if (isinstance(value, str) and "\x00" in value) or "\x00" in key:
            return key
        if isinstance(value, Mapping):
            stack.extend((key, v) for v in value.values())
            stack.extend((key, k) for k in value)
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)
    return None


def _json_rows(text: str, problems: list[Problem]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, entry in _json_entries(text, "sources", problems):
        renamed: dict[str, Any] = {}
        for key, value in entry.items():
            column = COLUMN_ALIASES.get(str(key).strip().lower())
            if column is None:
                problems.append(Problem(where, str(key), f"unknown field; known: {_known()}"))
            else:
                renamed[column] = value
        yield where, renamed


def _known() -> str:
    return ", ".join(sorted(COLUMN_ALIASES))
