"""SlurmWorkflowOperator with engine "cwl" in a real Airflow run: the WALLABY demo in CWL, run by cwltool inside a
job on the local Slurm cluster, its products inventoried and a signed provenance record that verifies."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.cli import main as beampipe
from beampipe_provider.ledger.states import RunState
from beampipe_provider.provenance.signing import public_pem
from tests.e2e.test_slurm_operator import staged_run
from tests.e2e.workflow_runs import run_dir, run_workflow_dag
from tests.slurm_cluster import LocalSlurm


def run_workflow(airflow_env, slurm: LocalSlurm, env: dict, conf: dict, check: bool = True):
    return run_workflow_dag(airflow_env, "beampipe_cwl_run", slurm, env, conf, check)


def members(path: Path) -> str:
    with tarfile.open(path) as tar:
        return str(len(tar.getnames()))


def test_a_cwl_workflow_runs_in_the_job_and_its_products_are_inventoried(airflow_env, slurm, tmp_path, inputs) -> None:
    store, run_key, env = staged_run(tmp_path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    env |= {"AIRFLOW_CONN_SIGNING_KEY": json.dumps({"conn_type": "generic", "password": pem.decode()})}
    (tmp_path / "signer.pub").write_bytes(public_pem(key))
    note = """it's "quoted" $(id) `id` ; with spaces"""
    datasets = [{"dataset_id": p.name, "path": str(p)} for p in inputs]
    conf = {"run_key": run_key, "datasets": datasets, "note": note, "provenance_key": "signing_key"}
    run_workflow(airflow_env, slurm, env, conf)

    run = store.get_run(run_key)
    assert run.state is RunState.SUCCEEDED
    where = run_dir(slurm, run_key)
    summary = where / "outputs" / "summary.txt"
    lines = [line.split("  ") for line in summary.read_text().splitlines()]
    assert lines == [
        [hashlib.sha256(p.read_bytes()).hexdigest(), str(p.stat().st_size), members(p), p.name] for p in inputs
    ]
    (product,) = json.loads((where / "inventory.json").read_text())
    assert product == {
        "path": str(summary),
        "size": summary.stat().st_size,
        "sha256": hashlib.sha256(summary.read_bytes()).hexdigest(),
    }
    assert json.loads((where / "manifest.json").read_text())["parameters"]["note"] == note  # intact
    outcome = json.loads((where / "outcome.json").read_text())
    assert outcome["state"] == "SUCCEEDED"
    assert outcome["engine"]["name"] == "cwl"
    assert outcome["session_id"] == f"cwl-{run.scheduler_job_id}"

    # a signed provenance record, in the ledger and beside the outputs, that verifies
    record_file = where / "provenance.json"
    envelope = json.loads(record_file.read_text())
    assert envelope["record"]["execution"]["state"] == "COMPLETED"
    assert envelope["record"]["workflow"]["engine"] == "cwl"
    assert envelope["record"]["workflow"]["engine_version"] == outcome["engine"]["version"]
    assert envelope["record"]["outputs"] == [product]
    assert pem.decode() not in record_file.read_text()
    ledger = json.loads(env["AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT"])["schema"]
    verify_args = ["--public-key", str(tmp_path / "signer.pub")]
    assert beampipe(["--db", f"sqlite:///{ledger}", "provenance", "verify", run_key, *verify_args]) == 0
    assert beampipe(["provenance", "verify", str(record_file), *verify_args]) == 0

    again = run_workflow(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets, "note": note})
    assert "already succeeded (ledger)" in again.stdout + again.stderr  # nothing asked of Slurm
    assert len(slurm.sacct_by_name(f"bp-{run_key}")) == 1  # the same run key twice: one job


def test_a_missing_input_fails_the_task_naming_the_step(airflow_env, slurm, tmp_path, inputs) -> None:
    store, run_key, env = staged_run(tmp_path)
    datasets = [{"dataset_id": p.name, "path": str(p)} for p in inputs]
    datasets[1]["path"] = str(inputs[1].with_name("missing.ms.tar"))
    out = run_workflow(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets}, check=False)
    log = out.stdout + out.stderr
    assert "failing steps: measure" in log
    assert "missing.ms.tar" in log
    assert store.get_run(run_key).state is RunState.FAILED
