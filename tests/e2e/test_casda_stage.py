"""CasdaStageOperator in a real Airflow run: a planned run's datasets staged from the emulator, verified, STAGED."""

from __future__ import annotations

import hashlib
import json

from beampipe_provider.archive.casda.discovery import SurveyRules, discover
from beampipe_provider.archive.tap import TapClient
from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.records import SourceRecord
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore


def test_a_planned_run_is_staged_once_and_a_rerun_only_reverifies(airflow_env, casda, tmp_path):
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate.upgrade(engine)
    store = LedgerStore(engine)
    rules = SurveyRules(survey="WALLABY", project_codes=["AS102"], dataproduct_types=["visibility"])
    found = discover(TapClient(casda.tap_url), rules, since=None)
    store.register_sources("WALLABY", [SourceRecord(source_id="HIPASSJ1303+07")])
    store.record_datasets(found.datasets)
    ids = [d.dataset_id for d in found.datasets if d.source_id == "HIPASSJ1303+07"]
    (run_key,) = store.plan_runs("WALLABY", ids, workflow="wallaby-hires", workflow_version="1.0").created

    env = {
        "AIRFLOW_CONN_CASDA_DEFAULT": json.dumps(
            {
                "conn_type": "casda",
                "login": "opal-user@example.org",
                "password": "opal-password",
                "extra": {
                    "tap_url": casda.tap_url,
                    "soda_url": casda.base_url + "/casda_data_access",
                    "allow_http_loopback": True,
                },
            }
        ),
        "AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT": json.dumps(
            {"conn_type": "beampipe_ledger", "schema": str(tmp_path / "ledger.db"), "extra": {"dialect": "sqlite"}}
        ),
    }
    conf = json.dumps({"run_key": run_key, "directory": str(tmp_path / "staged")})
    first = airflow_env.airflow("dags", "test", "beampipe_casda_stage", "--conf", conf, env=env)
    assert "opal-password" not in first.stdout + first.stderr

    staged = sorted((tmp_path / "staged" / run_key).iterdir())
    assert len(staged) == len(ids) == 2  # the source's split visibilities, from two scheduling blocks
    run = store.get_run(run_key)
    assert run.state is RunState.STAGED
    event = store.run_history(run_key)[-1]
    assert (event.from_state, event.to_state) == (RunState.CLAIMED, RunState.STAGED)
    assert event.detail == {"files": 2, "bytes": sum(p.stat().st_size for p in staged)}

    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in staged}
    airflow_env.airflow("dags", "test", "beampipe_casda_stage", "--conf", conf, env=env)  # a re-run
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(staged)} == before
    assert len(store.run_history(run_key)) == 3  # DISCOVERED, CLAIMED, STAGED: the re-run moved nothing
