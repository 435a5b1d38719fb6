"""Create the ledger's role and database on the Airflow PostgreSQL server; safe to repeat (airflow-init runs it).

Both come from the environment the services already share: the metadata DB URL (a superuser on this server) and
the `beampipe_ledger_default` connection (JSON), so the ledger's credentials are written in one place.
"""

from __future__ import annotations

import json
import os

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def main() -> None:
    admin = make_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).set(drivername="postgresql")
    ledger = json.loads(os.environ["AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT"])
    role, database = sql.Identifier(ledger["login"]), sql.Identifier(ledger["schema"])
    password = sql.Literal(ledger["password"])
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ledger["login"]]).fetchone():
            # A password changed in .env takes effect on the next `up`.
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(role, password))
        else:
            conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(role, password))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [ledger["schema"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))
    print(f"ledger database {ledger['schema']!r} owned by {ledger['login']!r} is ready")


if __name__ == "__main__":
    main()
