"""LedgerHook: an Airflow connection -> a migrated, checked LedgerStore."""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from sqlalchemy.engine import Engine

from beampipe_provider.ledger.engine import create_ledger_engine, ledger_url, ledger_url_from_connection
from beampipe_provider.ledger.migrate import check_schema
from beampipe_provider.ledger.store import LedgerStore


@cache
def _checked_engine(url: str) -> Engine:
    """One pool per ledger per process, schema checked once: hooks are created per task, engines should not be."""
    engine = create_ledger_engine(url)
    check_schema(engine)
    return engine


class LedgerHook(BaseHook):
    """The run ledger named by an Airflow connection of type `beampipe_ledger`.

    Without a `beampipe_ledger_default` connection the hook uses an embedded SQLite file under $AIRFLOW_HOME.
    The connection's host/port/login/password/schema describe PostgreSQL; with extra `dialect: sqlite`, schema
    is the SQLite file path. The schema must be migrated first (`beampipe ledger upgrade`).
    """

    conn_name_attr = "beampipe_ledger_conn_id"
    default_conn_name = "beampipe_ledger_default"
    conn_type = "beampipe_ledger"
    hook_name = "Beampipe ledger"

    def __init__(self, beampipe_ledger_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beampipe_ledger_conn_id = beampipe_ledger_conn_id

    def get_url(self) -> str:
        try:
            conn = self.get_connection(self.beampipe_ledger_conn_id)
        except AirflowNotFoundException:
            if self.beampipe_ledger_conn_id != self.default_conn_name:
                raise
            return ledger_url("sqlite").render_as_string(hide_password=False)
        return ledger_url_from_connection(conn)

    def get_store(self) -> LedgerStore:
        return LedgerStore(_checked_engine(self.get_url()))

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: reachable and migrated."""
        try:
            _checked_engine.__wrapped__(self.get_url()).dispose()
        except Exception as exc:
            return False, str(exc)
        return True, "ledger reachable and at the current schema"
