"""The provider inside real Airflow: registration, the connection type, and a real task run using LedgerHook."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.store import LedgerStore

BEAMPIPE = str(Path(sys.executable).parent / "beampipe")


def test_airflow_lists_the_provider_and_its_connection_type(airflow_env):
    providers = json.loads(airflow_env.airflow("providers", "list", "-o", "json").stdout)
    assert {"package_name": "airflow-provider-beampipe", "version": "0.1.0"}.items() <= {
        k: v for p in providers if p["package_name"] == "airflow-provider-beampipe" for k, v in p.items()
    }.items()
    hooks = airflow_env.airflow("providers", "hooks", "-o", "json").stdout
    assert "beampipe_provider.hooks.ledger.LedgerHook" in hooks


def test_task_uses_the_ledger_named_by_an_airflow_connection(airflow_env, pg_ledger):
    url = make_url(pg_ledger)
    airflow_env.airflow(
        "connections",
        "add",
        "beampipe_ledger_default",
        "--conn-type",
        "beampipe_ledger",
        "--conn-host",
        url.host,
        "--conn-port",
        str(url.port),
        "--conn-login",
        url.username,
        "--conn-schema",
        url.database,
    )
    try:
        # The operator's CLI migrates the very ledger the connection names.
        airflow_env.run(BEAMPIPE, "--conn-id", "beampipe_ledger_default", "ledger", "upgrade")
        first = airflow_env.airflow("dags", "test", "beampipe_ledger_smoke")
        assert "success" in (first.stdout + first.stderr).lower()
        airflow_env.airflow("dags", "test", "beampipe_ledger_smoke")  # a second run plans nothing new

        store = LedgerStore(create_ledger_engine(pg_ledger))
        (run,) = store.list_runs("WALLABY").items
        assert run.source_id == "HIPASSJ1303+07"
        assert [e.actor for e in store.run_history(run.run_key)] == ["planner"]
        store.engine.dispose()
    finally:
        airflow_env.airflow("connections", "delete", "beampipe_ledger_default")


def test_task_on_an_unmigrated_ledger_fails_and_says_what_to_run(airflow_env, tmp_path):
    airflow_env.airflow(
        "connections",
        "add",
        "beampipe_ledger_default",
        "--conn-type",
        "beampipe_ledger",
        "--conn-schema",
        str(tmp_path / "new.db"),
        "--conn-extra",
        json.dumps({"dialect": "sqlite"}),
    )
    try:
        result = airflow_env.airflow("dags", "test", "beampipe_ledger_smoke", check=False)
        assert "has no schema yet: run `beampipe ledger upgrade`" in result.stdout + result.stderr
    finally:
        airflow_env.airflow("connections", "delete", "beampipe_ledger_default")


def test_without_a_connection_the_ledger_is_sqlite_under_airflow_home(airflow_env):
    airflow_env.run(BEAMPIPE, "ledger", "upgrade")
    airflow_env.airflow("dags", "test", "beampipe_ledger_smoke")
    store = LedgerStore(create_ledger_engine(f"sqlite:///{airflow_env.home / 'beampipe_ledger.db'}"))
    assert [s.source_id for s in store.list_sources("WALLABY").items] == ["HIPASSJ1303+07"]
