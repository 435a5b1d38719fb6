"""Bulk INSERT ... ON CONFLICT ... RETURNING, fast on both dialects.

PostgreSQL gets one `INSERT ... SELECT unnest(array), ...` per call: a handful of array parameters instead of
thousands of placeholders (psycopg rewrites every placeholder in Python, and a multi-VALUES statement of 10,000
rows costs seconds). SQLite gets SQLAlchemy's batched multi-VALUES ("insertmanyvalues"), which is already fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

AnyRow = sa.Row[*tuple[Any, ...]]
Excluded = Any  # the `excluded` pseudo-table of an ON CONFLICT clause
UpdateFn = Callable[[Excluded], dict[str, Any]]


def bulk_insert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] = (),
    update: UpdateFn | None = None,
    returning: Sequence[sa.ColumnElement[Any]] = (),
) -> list[AnyRow]:
    """Insert `rows` (all with the same keys). With `conflict` columns, existing rows are skipped, or updated with
    `update(excluded)`. Returns the RETURNING rows: inserted and updated ones only, never the skipped."""
    if not rows:
        return []
    postgres = conn.dialect.name == "postgresql"
    stmt: Any = _unnest_insert(table, list(rows[0])) if postgres else sqlite.insert(table)
    if conflict:
        stmt = (
            stmt.on_conflict_do_update(index_elements=list(conflict), set_=update(stmt.excluded))
            if update
            else stmt.on_conflict_do_nothing(index_elements=list(conflict))
        )
    if returning:
        stmt = stmt.returning(*returning)
    params: Any = {name: [row[name] for row in rows] for name in rows[0]} if postgres else list(rows)
    result = conn.execute(stmt, params)
    return list(result.all()) if returning else []


def is_in(conn: Connection, column: sa.ColumnElement[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `column = ANY(array)`: one parameter, and a plan that uses the index."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _unnest_insert(table: sa.Table, names: list[str]) -> Any:
    # Cast back to the column type: arrays of JSON travel as text[], integers may arrive as numeric[].
    columns = [
        sa.cast(sa.func.unnest(sa.bindparam(name, type_=postgresql.ARRAY(table.c[name].type))), table.c[name].type)
        for name in names
    ]
    return postgresql.insert(table).from_select(names, sa.select(*columns))
