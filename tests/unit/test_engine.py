import pytest

from beampipe_provider.ledger.engine import default_ledger_url, ledger_url, normalise_url


def test_embedded_default_lives_under_airflow_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert default_ledger_url() == f"sqlite:///{tmp_path}/beampipe_ledger.db"
    assert ledger_url("sqlite").render_as_string() == f"sqlite:///{tmp_path}/beampipe_ledger.db"


def test_postgres_url_uses_psycopg3_and_keeps_the_password_out_of_rendering():
    url = ledger_url(
        "postgresql", host="db", port=5433, login="bp", password="s3cret", database="ledger", sslmode="require"
    )
    assert url.render_as_string() == "postgresql+psycopg://bp:***@db:5433/ledger?sslmode=require"
    assert normalise_url("postgresql://u@h/d").drivername == "postgresql+psycopg"


def test_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="'mysql' is not supported"):
        ledger_url("mysql")
