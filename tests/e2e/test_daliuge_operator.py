"""SlurmDaliugeOperator in real Airflow runs: a real DALiuGE 6.6 graph inside a job on the local Slurm cluster."""

from __future__ import annotations

import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.cli import main as beampipe
from beampipe_provider.ledger.states import RunState
from beampipe_provider.provenance.signing import public_pem
from tests.e2e.test_slurm_operator import staged_run
from tests.e2e.workflow_runs import run_dir, run_workflow_dag
from tests.slurm_cluster import LocalSlurm


def run_graph(airflow_env, slurm: LocalSlurm, env: dict, conf: dict, check: bool = True):
    return run_workflow_dag(airflow_env, "beampipe_daliuge_run", slurm, env, conf, check)


def test_a_graph_runs_in_the_job_and_its_products_are_inventoried(airflow_env, slurm, tmp_path, inputs) -> None:
    store, run_key, env = staged_run(tmp_path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    env |= {"AIRFLOW_CONN_SIGNING_KEY": json.dumps({"conn_type": "generic", "password": pem.decode()})}
    (tmp_path / "signer.pub").write_bytes(public_pem(key))
    note = """it's "quoted" $(id) `id` ; with spaces"""
    datasets = [{"dataset_id": p.name, "path": str(p)} for p in inputs]
    conf = {"run_key": run_key, "datasets": datasets, "note": note, "provenance_key": "signing_key"}
    lineage = tmp_path / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(lineage), "append": True}
    run_graph(airflow_env, slurm, env | {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}, conf)

    assert store.get_run(run_key).state is RunState.SUCCEEDED
    where = run_dir(slurm, run_key)
    lines = (where / "outputs" / "summary.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs]
    assert [line.split()[-1] for line in lines] == [p.name for p in inputs]
    assert all(line.split()[2] == "1" for line in lines)  # one member in each tarball: the app read the file
    (product,) = json.loads((where / "inventory.json").read_text())
    assert product["sha256"] == hashlib.sha256((where / "outputs" / "summary.txt").read_bytes()).hexdigest()
    assert json.loads((where / "manifest.json").read_text())["parameters"]["note"] == note  # intact
    outcome = json.loads((where / "outcome.json").read_text())
    assert outcome["state"] == "FINISHED"
    assert set(outcome["timings"]) >= {"managers_s", "deploy_s", "run_s"}

    # lineage, as a user of the OpenLineage provider sees it: CASDA inputs, products, the Slurm job
    events = [json.loads(line) for line in lineage.read_text().splitlines()]
    (complete,) = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(".graph")]
    assert [i["name"] for i in complete["inputs"]] == [p.name for p in inputs]
    assert [o["name"] for o in complete["outputs"]] == [str(where / "outputs" / "summary.txt")]
    assert complete["run"]["facets"]["beampipe_slurm"]["job_id"] == store.get_run(run_key).scheduler_job_id

    # a signed provenance record, in the ledger and beside the outputs, that verifies
    record_file = where / "provenance.json"
    envelope = json.loads(record_file.read_text())
    assert envelope["record"]["execution"]["state"] == "COMPLETED"
    assert envelope["record"]["workflow"]["engine_version"] == "6.6.0"
    assert envelope["record"]["outputs"] == [{k: product[k] for k in ("path", "size", "sha256")}]
    assert pem.decode() not in record_file.read_text()
    ledger = json.loads(env["AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT"])["schema"]
    verify_args = ["--public-key", str(tmp_path / "signer.pub")]
    assert beampipe(["--db", f"sqlite:///{ledger}", "provenance", "verify", run_key, *verify_args]) == 0
    assert beampipe(["provenance", "verify", str(record_file), *verify_args]) == 0

    again = run_graph(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets, "note": note})
    log = again.stdout + again.stderr
    assert "Run files reused" in log
    assert "already succeeded (ledger)" in log  # nothing asked of Slurm
    assert "summary.txt" in json.dumps(json.loads((where / "inventory.json").read_text()))
    assert len(slurm.sacct_by_name(f"bp-{run_key}")) == 1  # the same run key twice: one job


def test_a_failing_app_fails_the_task_naming_the_drop(airflow_env, slurm, tmp_path, inputs) -> None:
    store, run_key, env = staged_run(tmp_path)
    datasets = [{"dataset_id": p.name, "path": str(p)} for p in inputs]
    datasets[1]["path"] = str(inputs[1].with_name("missing.ms.tar"))
    out = run_graph(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets}, check=False)
    log = out.stdout + out.stderr
    assert "failing drops: measure_visibilities[0-1], " in log  # the second copy failed, and is named first
    assert "missing.ms.tar: No such file or directory" in log
    run = store.get_run(run_key)
    assert run.state is RunState.FAILED
    assert "exit 1" in (run.last_error or "")


def test_a_graph_that_cannot_deploy_fails_instead_of_hanging(airflow_env, slurm, tmp_path, inputs) -> None:
    store, run_key, env = staged_run(tmp_path)
    datasets = [{"dataset_id": p.name, "path": str(p)} for p in inputs]
    conf = {"run_key": run_key, "datasets": datasets, "summary_class": "dlg.data.drops.NoSuchDrop"}
    out = run_graph(airflow_env, slurm, env, conf, check=False)
    assert "the graph could not be deployed" in out.stdout + out.stderr
    assert store.get_run(run_key).state is RunState.FAILED
