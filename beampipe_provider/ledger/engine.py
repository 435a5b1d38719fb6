"""Engines for the ledger: SQLite (embedded default, WAL + busy timeout) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

SQLITE_BUSY_TIMEOUT_S = 30.0
LEDGER_FILE_NAME = "beampipe_ledger.db"


def default_ledger_url() -> str:
    """The embedded ledger: a SQLite file under $AIRFLOW_HOME (Airflow's own default home when unset)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return f"sqlite:///{home / LEDGER_FILE_NAME}"


def normalise_url(url: str | URL) -> URL:
    """postgresql:// means psycopg 3 here, the driver the provider ships with."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_ledger_engine(url: str | URL, **kwargs: Any) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event start transactions, so they can be IMMEDIATE (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(conn: sa.Connection) -> None:
        # A deferred transaction that reads then writes can fail with "database is locked" without waiting;
        # taking the write lock up front makes every transaction wait its turn under the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def ledger_url(
    dialect: str,
    *,
    host: str | None = None,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    database: str | None = None,
    sslmode: str | None = None,
) -> URL:
    """Build the ledger URL from connection parts. For SQLite, `database` is the file path (default when empty)."""
    if dialect == "sqlite":
        return make_url(f"sqlite:///{database}") if database else make_url(default_ledger_url())
    if dialect != "postgresql":
        raise ValueError(f"ledger dialect {dialect!r} is not supported: use 'postgresql' or 'sqlite'")
    return URL.create(
        "postgresql+psycopg",
        username=login or None,
        password=password or None,
        host=host or None,
        port=port or None,
        database=database or None,
        query={"sslmode": sslmode} if sslmode else {},
    )


class ConnectionFields(Protocol):
    """What the ledger needs of an Airflow Connection (SDK or core model); no Airflow import here."""

    host: str | None
    port: int | None
    login: str | None
    password: str | None
    schema: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def ledger_url_from_connection(conn: ConnectionFields) -> str:
    """Connection type `beampipe_ledger`: PostgreSQL from host/port/login/password/schema, or with extra
    `dialect: sqlite`, a SQLite file whose path is the schema field."""
    extra = conn.extra_dejson
    url = ledger_url(
        extra.get("dialect") or "postgresql",
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        database=conn.schema,
        sslmode=extra.get("sslmode"),
    )
    return url.render_as_string(hide_password=False)
