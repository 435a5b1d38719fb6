"""CasdaDepositSensor in real Airflow runs (`airflow dags test`) against the CASDA emulator, both modes."""

from __future__ import annotations

import json
import time

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.store import LedgerStore


def _env(casda, tmp_path) -> tuple[dict[str, str], LedgerStore]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = create_ledger_engine(url)
    migrate.upgrade(engine)
    env = {
        "AIRFLOW_CONN_CASDA_DEFAULT": json.dumps({"conn_type": "casda", "extra": {"tap_url": casda.tap_url}}),
        "AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT": json.dumps(
            {"conn_type": "beampipe_ledger", "schema": str(tmp_path / "ledger.db"), "extra": {"dialect": "sqlite"}}
        ),
    }
    return env, LedgerStore(engine)


def _recorded(store: LedgerStore) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT dataset_id FROM beampipe_datasets").scalars())


def test_poke_mode_records_the_deposits_of_the_data_interval_once(airflow_env, casda, tmp_path):
    env, store = _env(casda, tmp_path)
    casda.faults(tap_http_500=1)  # CASDA is down for the first poke: the sensor waits, it does not fail
    # A manual run's data interval is empty, so it looks back one day: [03-01, 03-02) holds seeded SBID 33681 and
    # its three visibilities; SBID 33701, deposited at 03-02T00:00, belongs to the next day.
    first = airflow_env.airflow("dags", "test", "beampipe_casda_poke", "2024-03-02", env=env)
    expected = ["visibility-3368100", "visibility-3368101", "visibility-3368102"]
    assert _recorded(store) == expected
    assert "visibility-3368100:new" in first.stdout + first.stderr
    assert "Archive casda unavailable, will poke again" in first.stdout + first.stderr
    # Re-running the same interval (what a backfill does) finds the same deposits; the ledger keeps them single.
    again = airflow_env.airflow("dags", "test", "beampipe_casda_poke", "2024-03-02", env=env)
    assert _recorded(store) == expected
    assert "visibility-3368100:unchanged" in again.stdout + again.stderr


def test_deferrable_mode_waits_on_the_trigger_until_a_deposit_arrives(airflow_env, casda, tmp_path):
    env, store = _env(casda, tmp_path)
    run = airflow_env.popen("dags", "test", "beampipe_casda_deferrable", "2024-04-02", env=env)
    time.sleep(15)  # nothing deposited in April yet: the sensor has deferred and its trigger polls
    assert run.poll() is None
    assert _recorded(store) == []
    casda.deposit(35001, ["HIPASSJ1303+07"], when="2024-04-01T06:00:00+00:00")
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    assert "visibility-3500100:new" in output
    assert _recorded(store) == ["visibility-3500100"]
