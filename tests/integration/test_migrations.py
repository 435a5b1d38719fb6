"""Alembic migrations on both databases: up from empty, down, up again, no drift; the schema check's messages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from beampipe_provider.cli import main as beampipe
from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.errors import SchemaNotCurrent
from beampipe_provider.ledger.schema import metadata


def _tables(engine) -> set[str]:
    return {t for t in sa.inspect(engine).get_table_names() if t.startswith("beampipe_")}


def test_upgrade_downgrade_upgrade_without_drift(ledger_url):
    engine = create_ledger_engine(ledger_url)
    with engine.begin() as conn:  # someone else's table in a shared database is never touched
        conn.execute(sa.text("CREATE TABLE dag_run (id INTEGER PRIMARY KEY)"))
    migrate.upgrade(engine)
    assert _tables(engine) == set(metadata.tables) | {"beampipe_alembic_version"}
    assert migrate.drift(engine) == []
    migrate.downgrade(engine, "base")
    assert _tables(engine) == {"beampipe_alembic_version"}
    migrate.upgrade(engine)
    assert migrate.drift(engine) == []
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert "dag_run" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_schema_check_says_which_command_to_run(ledger_url):
    engine = create_ledger_engine(ledger_url)
    with pytest.raises(SchemaNotCurrent, match="has no schema yet: run `beampipe ledger upgrade`"):
        migrate.check_schema(engine)
    migrate.upgrade(engine)
    migrate.check_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE beampipe_alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaNotCurrent, match="revision 9999, newer than this beampipe-provider knows"):
        migrate.check_schema(engine)
    engine.dispose()


def test_cli_refuses_an_unmigrated_ledger_then_upgrade_fixes_it(ledger_url, capsys):
    assert beampipe(["--db", ledger_url, "runs", "list"]) == 2
    assert "run `beampipe ledger upgrade`" in capsys.readouterr().err
    assert beampipe(["--db", ledger_url, "ledger", "upgrade"]) == 0
    assert beampipe(["--db", ledger_url, "ledger", "upgrade"]) == 0  # repeatable
    assert beampipe(["--db", ledger_url, "runs", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("RUN ")


def test_0003_gives_the_cluster_its_own_column_and_downgrades_keeping_the_runs(ledger_url):
    engine = create_ledger_engine(ledger_url)
    migrate.upgrade(engine, "0002")
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO beampipe_runs (run_key, survey, source_id, workflow, workflow_version, parameters, state,"
                " attempt, facility, created_at, updated_at) VALUES ('k1', 'WALLABY', 'S1', 'w', '1', '{}',"
                " 'SUBMITTED', 1, 'setonix', :now, :now)"
            ),
            {"now": now},
        )
    migrate.upgrade(engine)
    assert migrate.drift(engine) == []
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT facility, cluster FROM beampipe_runs")).one() == ("setonix", None)
        conn.execute(sa.text("UPDATE beampipe_runs SET cluster = 'setonix'"))
    migrate.downgrade(engine, "0002")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("beampipe_runs")}
    assert "cluster" not in columns
    assert "facility" in columns
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT run_key, facility FROM beampipe_runs")).one() == ("k1", "setonix")
    engine.dispose()
