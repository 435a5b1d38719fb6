"""LedgerHook in-process, with connections given the way Airflow reads them from the environment."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException
from sqlalchemy.engine import make_url

from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.errors import SchemaNotCurrent


def _connection(monkeypatch, conn_id: str, url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = {"conn_type": "beampipe_ledger", "schema": parsed.database, "extra": {"dialect": "sqlite"}}
    else:
        conn = {
            "conn_type": "beampipe_ledger",
            "host": parsed.host,
            "port": parsed.port,
            "login": parsed.username,
            "schema": parsed.database,
        }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_hook_test_button_reports_unmigrated_then_ok(monkeypatch, ledger_url):
    _connection(monkeypatch, "ledger_under_test", ledger_url)
    hook = LedgerHook(beampipe_ledger_conn_id="ledger_under_test")
    ok, message = hook.test_connection()
    assert not ok
    assert "run `beampipe ledger upgrade`" in message
    with pytest.raises(SchemaNotCurrent):
        hook.get_store()
    engine = create_ledger_engine(ledger_url)
    migrate.upgrade(engine)
    engine.dispose()
    assert hook.test_connection() == (True, "ledger reachable and at the current schema")
    assert hook.get_store().list_runs().items == []


def test_a_named_connection_that_does_not_exist_is_an_error_not_a_silent_default():
    with pytest.raises(AirflowNotFoundException, match="no_such_ledger"):
        LedgerHook(beampipe_ledger_conn_id="no_such_ledger").get_url()
