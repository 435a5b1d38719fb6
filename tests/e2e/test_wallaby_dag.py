"""The WALLABY survey DAG (dags/wallaby_hires.py + dags/surveys/wallaby_hires.yaml) in real Airflow runs: CASDA
emulator -> ledger -> staging -> a real DALiuGE graph in real Slurm jobs -> signed provenance; and its parse."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import ProvenanceLedger

DAGS = Path(__file__).parents[2] / "dags"
# The emulator's first WALLABY block (SBID 33681, deposited 2024-03-01) holds one split visibility of each source.
# A manual run at 2024-03-02 looks back one schedule interval: that day.
FIRST_DAY_SOURCES = ["HIPASSJ1303+07", "HIPASSJ1318-21", "HIPASSJ1324-24"]


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    """The repository's dags/ with one extra workflow parameter unique to this test. Run keys are deterministic
    and jobs are adopted by name (sacct remembers 30 days), so without it a second test session on this cluster
    would adopt the first session's jobs instead of running its own."""
    copy = tmp_path / "dags"
    shutil.copytree(DAGS, copy)
    survey = copy / "surveys" / "wallaby_hires.yaml"
    config = yaml.safe_load(survey.read_text())
    config["workflow"]["parameters"]["test_session"] = uuid.uuid4().hex
    survey.write_text(yaml.safe_dump(config))
    return copy


@pytest.fixture
def staging() -> Iterator[Path]:
    """Staged files must be readable by the Slurm jobs' user (pytest's tmp_path is private to root)."""
    directory = Path("/tmp", f"beampipe-staging-{uuid.uuid4().hex[:8]}")
    directory.mkdir(mode=0o755)
    yield directory
    shutil.rmtree(directory)


def survey_env(dags: Path, casda, slurm, ledger: Path, staging: Path) -> dict[str, str]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "AIRFLOW_CONN_CASDA_DEFAULT": json.dumps(
            {
                "conn_type": "casda",
                "login": "opal-user@example.org",
                "password": "opal-password",
                "extra": {"tap_url": casda.tap_url, "soda_url": casda.base_url + "/casda_data_access"},
            }
        ),
        "AIRFLOW_CONN_SLURM_DEFAULT": slurm.airflow_connection(),
        "AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT": json.dumps(
            {"conn_type": "beampipe_ledger", "schema": str(ledger), "extra": {"dialect": "sqlite"}}
        ),
        "AIRFLOW_CONN_BEAMPIPE_SIGNING_KEY": json.dumps({"conn_type": "generic", "password": pem.decode()}),
        "AIRFLOW_VAR_BEAMPIPE_STAGING_DIR": str(staging),
    }


def ledger_at(path: Path) -> LedgerStore:
    engine = create_ledger_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    return LedgerStore(engine)


def test_a_day_of_deposits_runs_once_per_source_and_again_runs_nothing(
    airflow_env, dags, casda, slurm, tmp_path, staging
) -> None:
    store = ledger_at(tmp_path / "ledger.db")
    env = survey_env(dags, casda, slurm, tmp_path / "ledger.db", staging)

    first = airflow_env.airflow("dags", "test", "wallaby_hires", "2024-03-02", env=env)

    runs = store.list_runs("WALLABY").items
    assert sorted(r.source_id for r in runs) == FIRST_DAY_SOURCES, first.stdout[-5000:]
    assert {r.state for r in runs} == {RunState.SUCCEEDED}, first.stdout[-8000:]
    assert len({r.scheduler_job_id for r in runs}) == 3
    for run in runs:
        assert ProvenanceLedger(store.engine).get(run.run_key) is not None
        beam = FIRST_DAY_SOURCES.index(run.source_id)
        (staged,) = (staging / run.run_key).iterdir()  # downloaded and checksum-verified
        assert staged.name == f"{run.source_id}_A_beam{beam:02d}_10arc_split.ms.tar"
        summary = Path("/home", slurm.user, "dlg", "runs", run.run_key, "outputs", "summary.txt")
        assert summary.read_text().split()[-1] == staged.name  # the graph's app read the staged file
    log = first.stdout + first.stderr
    report = [line.split() for line in log.splitlines() if line.startswith(tuple(FIRST_DAY_SOURCES))]
    assert sorted((row[0], row[2], row[3], row[-1]) for row in report) == sorted(
        (r.source_id, "SUCCEEDED", r.scheduler_job_id, "verified") for r in runs
    )
    assert "opal-password" not in log

    # The same window again (a retry, a second poll, a backfill): nothing new is planned or submitted.
    airflow_env.airflow("dags", "test", "wallaby_hires", "2024-03-02", env=env)
    again = store.list_runs("WALLABY").items
    assert [(r.run_key, r.scheduler_job_id, r.attempt) for r in again] == [
        (r.run_key, r.scheduler_job_id, r.attempt) for r in runs
    ]
