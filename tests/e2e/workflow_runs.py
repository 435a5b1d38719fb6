"""Running a workflow DAG of tests/e2e/dags in a real `airflow dags test` on the local cluster, and where its run
directory is: shared by the DALiuGE, CWL and hostile-input tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.slurm_cluster import LocalSlurm


def run_workflow_dag(airflow_env, dag_id: str, slurm: LocalSlurm, env: dict, conf: dict, check: bool = True):
    return airflow_env.airflow(
        "dags",
        "test",
        dag_id,
        "--conf",
        json.dumps(conf),
        check=check,
        env={"AIRFLOW_CONN_SLURM_TEST": slurm.airflow_connection(), "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
        | env,
    )


def run_dir(slurm: LocalSlurm, run_key: str) -> Path:
    """Where the operator places a run: {dlg_root}/runs/{run_key} of the local profile, whatever the engine."""
    return Path("/home", slurm.user, "dlg", "runs", run_key)
