"""The emulator's archive: CASDA's TAP tables in SQLite, queried with ADQL translated by a real SQL parser."""

from __future__ import annotations

import math
import random
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

TABLES: dict[str, dict[str, str]] = {
    "ivoa.obscore": {
        "dataproduct_type": "TEXT",
        "calib_level": "INTEGER",
        "obs_collection": "TEXT",
        "obs_id": "TEXT",
        "obs_publisher_did": "TEXT",
        "access_url": "TEXT",
        "access_format": "TEXT",
        "access_estsize": "INTEGER",
        "target_name": "TEXT",
        "s_ra": "REAL",
        "s_dec": "REAL",
        "t_min": "REAL",
        "t_max": "REAL",
        "em_min": "REAL",
        "em_max": "REAL",
        "filename": "TEXT",
        "obs_release_date": "TEXT",
        "quality_level": "TEXT",
    },
    "casda.observation_event": {
        "sbid": "INTEGER",
        "event_date": "TEXT",
        "event_type": "TEXT",
        "project_code": "TEXT",
        "obs_program": "TEXT",
    },
    "casda.project": {"opal_code": "TEXT", "short_name": "TEXT", "principal_first_name": "TEXT"},
    "casda.observation_evaluation_file": {
        "sbid": "INTEGER",
        "filename": "TEXT",
        "format": "TEXT",
        "filesize": "INTEGER",
        "access_url": "TEXT",
    },
}
TIMESTAMP_COLUMNS = frozenset({"event_date", "obs_release_date"})


class AdqlError(Exception):
    """Reported to the client as QUERY_STATUS=ERROR (with HTTP 200, as CASDA does)."""


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def to_sqlite(adql: str, tables: Mapping[str, Mapping[str, str]] = TABLES) -> str:
    """Parse ADQL (SQL-92 with TOP) and render SQLite. One SELECT over known tables only."""
    try:
        statements = sqlglot.parse(adql, read="tsql")
    except sqlglot.errors.ParseError as exc:
        raise AdqlError(f"Syntax error: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or statements[0] is None:
        raise AdqlError("Exactly one SELECT statement is allowed")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise AdqlError(f"Only SELECT is allowed, not {tree.key.upper()}")
    for table in tree.find_all(exp.Table):
        name = f"{table.db}.{table.name}".lower() if table.db else table.name.lower()
        if name not in tables and not _is_cte(tree, table.name):
            raise AdqlError(f"Table {name} does not exist")
    return tree.sql(dialect="sqlite")


def _is_cte(tree: Any, name: str) -> bool:
    return any(cte.alias_or_name == name for cte in tree.find_all(exp.CTE))


def _separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    cos = math.sin(dec1) * math.sin(dec2) + math.cos(dec1) * math.cos(dec2) * math.cos(ra1 - ra2)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    overflow: bool


class Catalogue:
    """Thread-safe: the HTTP server answers from several threads. `tables` are the only tables it has and knows
    (CASDA's by default; the ObsCore mount has ivoa.obscore alone)."""

    def __init__(self, tables: Mapping[str, Mapping[str, str]] = TABLES) -> None:
        self.tables = tables
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        for schema in sorted({name.split(".")[0] for name in tables}):
            self._db.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
        for name, columns in tables.items():  # names from the code's own table definitions, never from a request
            cols = ", ".join(f"{c} {t}" for c, t in columns.items())
            self._db.execute(f"CREATE TABLE {name} ({cols})")
        if "ivoa.obscore" in tables:
            self._db.execute("CREATE INDEX ivoa.obscore_obs_id ON obscore (obs_id)")
        if "casda.observation_event" in tables:
            self._db.execute("CREATE INDEX casda.event_date ON observation_event (event_date)")

    def query(self, adql: str, maxrec: int | None) -> QueryResult:
        sql = to_sqlite(adql, self.tables)
        with self._lock:
            try:
                cursor = self._db.execute(sql)
            except sqlite3.Error as exc:
                raise AdqlError(f"Query failed: {exc}") from None
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchmany(maxrec + 1) if maxrec is not None else cursor.fetchall()
        overflow = maxrec is not None and len(rows) > maxrec
        return QueryResult(columns, rows[:maxrec] if overflow else rows, overflow)

    def insert(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        columns = self.tables[table]
        values = [tuple(row.get(c) for c in columns) for row in rows]
        # Table and column names come from the table definitions, never from a request.
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        with self._lock:
            self._db.executemany(insert, values)
            self._db.commit()
        return len(values)

    def sia2(self, pos: str) -> QueryResult:
        """SIA2 POS=CIRCLE ra dec radius or POS=RANGE ra1 ra2 dec1 dec2 (degrees) over ivoa.obscore."""
        shape, *numbers = pos.split() or [""]
        values = [float(n) for n in numbers]
        circle = shape.upper() == "CIRCLE" and len(values) == 3
        if not circle and not (shape.upper() == "RANGE" and len(values) == 4):
            raise AdqlError(f"POS {pos!r}: expected CIRCLE ra dec radius or RANGE ra1 ra2 dec1 dec2")

        def inside(ra: float, dec: float) -> bool:
            if circle:
                return _separation_deg(values[0], values[1], ra, dec) <= values[2]
            return values[0] <= ra <= values[1] and values[2] <= dec <= values[3]

        with self._lock:
            cursor = self._db.execute("SELECT * FROM ivoa.obscore WHERE s_ra IS NOT NULL")
            columns = [d[0] for d in cursor.description]
            rows = [row for row in cursor.fetchall() if inside(row[columns.index("s_ra")], row[columns.index("s_dec")])]
        return QueryResult(columns, rows, overflow=False)

    def filename_of(self, did: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT filename FROM ivoa.obscore WHERE obs_publisher_did = ?", (did,)).fetchone()
        return None if row is None else str(row[0])

    def redeposit(self, did: str, size_kb: int, when: datetime) -> int:
        """A product replaced with new content: its size changes and its SBID gets an UPDATED event."""
        with self._lock:
            row = self._db.execute("SELECT obs_id FROM ivoa.obscore WHERE obs_publisher_did = ?", (did,)).fetchone()
            if row is None:
                raise KeyError(f"no product {did}")
            sbid = int(str(row[0]).removeprefix("ASKAP-"))
            self._db.execute("UPDATE ivoa.obscore SET access_estsize = ? WHERE obs_publisher_did = ?", (size_kb, did))
            project = self._db.execute(
                "SELECT project_code, obs_program FROM casda.observation_event WHERE sbid = ? LIMIT 1", (sbid,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO casda.observation_event VALUES (?, ?, 'UPDATED', ?, ?)", (sbid, iso(when), *project)
            )
            self._db.commit()
        return sbid

    def count(self, table: str) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 (TABLES key)


# -- seeding ---------------------------------------------------------------------------------------------------

WALLABY_FIELDS = ["NGC4636", "NGC5044", "Hydra", "Norma", "NGC4808", "Vela"]


def wallaby_sbid_rows(
    base_url: str, sbid: int, when: datetime, sources: list[str], *, project: str = "AS102", n_cubes: int = 2
) -> dict[str, list[dict[str, Any]]]:
    """One deposited WALLABY scheduling block: its event, cubes, per-source split visibilities, evaluation file."""
    rng = random.Random(sbid)  # noqa: S311 (repeatable sky positions, not security)
    field = WALLABY_FIELDS[sbid % len(WALLABY_FIELDS)]
    footprint = "A" if (sbid // 20) % 2 == 0 else "B"  # WALLABY observes each field twice, footprints A and B
    released = iso(when + timedelta(days=30))
    products: list[dict[str, Any]] = []

    def product(did: str, filename: str, kind: str, size_kb: int, quality: str = "NOT_VALIDATED") -> None:
        products.append(
            {
                "dataproduct_type": kind,
                "calib_level": 2,
                "obs_collection": "WALLABY",
                "obs_id": f"ASKAP-{sbid}",
                "obs_publisher_did": did,
                "access_url": f"{base_url}/casda_vo_proxy/vo/datalink/links?ID={did}",
                "access_format": "application/fits" if filename.endswith(".fits") else "application/x-tar",
                "access_estsize": size_kb,
                "target_name": field,
                "s_ra": round(rng.uniform(150, 210), 5),
                "s_dec": round(rng.uniform(-45, 8), 5),
                "filename": filename,
                "obs_release_date": released,
                "quality_level": quality,
            }
        )

    for i in range(n_cubes):
        product(f"cube-{sbid * 10 + i}", f"image.restored.i.{field}_{i}.cube.contsub.fits", "cube", 40_000_000)
        product(f"cube-{sbid * 10 + 5 + i}", f"weights.i.{field}_{i}.cube.fits", "cube", 40_000_000)
    for beam, source in enumerate(sources):
        did = f"visibility-{sbid * 100 + beam}"
        product(did, f"{source}_{footprint}_beam{beam:02d}_10arc_split.ms.tar", "visibility", 7_800_000 + beam)
    return {
        "casda.observation_event": [
            {
                "sbid": sbid,
                "event_date": iso(when),
                "event_type": "DEPOSITED",
                "project_code": project,
                "obs_program": "WALLABY",
            }
        ],
        "ivoa.obscore": products,
        "casda.observation_evaluation_file": [
            {
                "sbid": sbid,
                "filename": f"calibration-metadata-processing-logs-SB{sbid}_{when:%Y-%m-%d-%H%M%S}.tar",
                "format": "calibration",
                "filesize": 51_200,
                "access_url": None,
            }
        ],
    }


def seed_wallaby(catalogue: Catalogue, base_url: str, *, sbids: int = 6, start: datetime | None = None) -> None:
    """Realistic AS102 deposits plus another project's, so filters have something to filter out."""
    start = start or datetime(2024, 3, 1, tzinfo=UTC)
    catalogue.insert(
        "casda.project",
        [
            {"opal_code": "AS102", "short_name": "WALLABY", "principal_first_name": "Barbel"},
            {"opal_code": "AS101", "short_name": "EMU", "principal_first_name": "Ray"},
        ],
    )
    hipass = ["HIPASSJ1303+07", "HIPASSJ1318-21", "HIPASSJ1324-24", "HIPASSJ1312-15", "ESO509-G040", "NGC5260"]
    for i in range(sbids):
        sbid = 33681 + 20 * i
        block = wallaby_sbid_rows(base_url, sbid, start + timedelta(days=i), hipass[i % 3 : i % 3 + 3])
        for table, rows in block.items():
            catalogue.insert(table, rows)
    catalogue.insert(
        "casda.observation_event",
        [
            {
                "sbid": 40000,
                "event_date": iso(start),
                "event_type": "DEPOSITED",
                "project_code": "AS101",
                "obs_program": "EMU",
            }
        ],
    )
    catalogue.insert(
        "ivoa.obscore",
        [
            {
                "dataproduct_type": "cube",
                "obs_collection": "EMU",
                "obs_id": "ASKAP-40000",
                "obs_publisher_did": "cube-400000",
                "filename": "image.i.EMU_2042-55.cont.fits",
                "access_estsize": 1000,
                "obs_release_date": iso(start),
                "quality_level": "GOOD",
            }
        ],
    )
