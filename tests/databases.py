"""Real databases for tests: a fresh PostgreSQL database (on 127.0.0.1:5432) or SQLite file per use."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_ADMIN_DSN = os.environ.get("BEAMPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: start it (scripts/services up) or set BEAMPIPE_TEST_PG. "
            f"{exc}"
        ) from exc


@contextmanager
def fresh_postgres() -> Iterator[str]:
    name = f"beampipe_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / f'ledger-{uuid.uuid4().hex[:8]}.db'}"
