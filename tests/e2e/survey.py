"""The WALLABY survey DAG under test: a copy of dags/ with a per-test workflow parameter, a staging directory the
Slurm jobs can read, and the connections the DAG names (CASDA emulator, local Slurm, ledger, signing key)."""

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
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.signing import public_pem

DAGS = Path(__file__).parents[2] / "dags"


@pytest.fixture
def survey_dags(tmp_path: Path) -> Path:
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


def sqlite_ledger(path: Path) -> str:
    return json.dumps({"conn_type": "beampipe_ledger", "schema": str(path), "extra": {"dialect": "sqlite"}})


def ledger_store(url: str) -> LedgerStore:
    engine = create_ledger_engine(url)
    migrate.upgrade(engine)
    return LedgerStore(engine)


def survey_env(dags: Path, casda, slurm, ledger_connection: str, staging: Path) -> tuple[dict[str, str], bytes]:
    """The environment of every Airflow process, and the signer's public key (PEM)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
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
        "AIRFLOW_CONN_SLURM_DEFAULT": slurm.airflow_connection(),
        "AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT": ledger_connection,
        "AIRFLOW_CONN_BEAMPIPE_SIGNING_KEY": json.dumps({"conn_type": "generic", "password": pem.decode()}),
        "AIRFLOW_VAR_BEAMPIPE_STAGING_DIR": str(staging),
    }
    return env, public_pem(key)
