"""Hostile input through real Airflow runs: a product name that is a shell command goes from the CASDA emulator
through staging into a real DALiuGE job and is processed with nothing run; a run key that is a path is refused
before anything is written on the cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from beampipe_provider.archive.casda.discovery import SurveyRules, discover
from beampipe_provider.archive.tap import TapClient
from beampipe_provider.ledger.records import SourceRecord
from beampipe_provider.ledger.states import RunState
from tests.e2e.test_daliuge_operator import run_dir, run_graph
from tests.e2e.test_slurm_operator import staged_run

LOCAL = r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,199}"


@pytest.fixture
def stage_dir() -> Iterator[Path]:
    """Where the job's user can read staged files (pytest's tmp_path is private to root)."""
    directory = Path("/tmp", f"beampipe-e2e-{uuid.uuid4().hex[:8]}")
    directory.mkdir(mode=0o755)
    yield directory
    shutil.rmtree(directory)


def casda_connection(casda) -> str:
    return json.dumps(
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
    )


def test_a_hostile_product_name_is_processed_and_nothing_runs(airflow_env, slurm, casda, tmp_path, stage_dir) -> None:
    store, _, env = staged_run(tmp_path)  # the ledger; this test plans its own run below
    source = f"HIPASSJ{uuid.uuid4().hex[:6]}"
    sbid = 40_000 + int(uuid.uuid4().hex[:4], 16) % 9_000
    markers = [stage_dir / "PWNED-1", Path("/tmp", f"beampipe-pwned-{uuid.uuid4().hex}"), "PWNED-3"]
    hostile = f"{source}_A_beam00'$(touch {markers[0]})'`touch {markers[1]}`;touch {markers[2]}|(id)&<x>.ms.tar"
    casda.deposit(sbid, [source], names={f"visibility-{sbid * 100}": hostile})
    rules = SurveyRules(survey="WALLABY", project_codes=["AS102"], dataproduct_types=["visibility"])
    found = discover(TapClient(casda.tap_url), rules, since=None)
    store.register_sources("WALLABY", [SourceRecord(source_id=source)])
    store.record_datasets(found.datasets)
    ids = [d.dataset_id for d in found.datasets if d.source_id == source]
    assert [d.filename for d in found.datasets if d.source_id == source] == [hostile]
    (run_key,) = store.plan_runs("WALLABY", ids, workflow="wallaby-hires", workflow_version="1").created

    env |= {"AIRFLOW_CONN_CASDA_DEFAULT": casda_connection(casda)}
    conf = json.dumps({"run_key": run_key, "directory": str(stage_dir)})
    airflow_env.airflow("dags", "test", "beampipe_casda_stage", "--conf", conf, env=env)
    assert store.get_run(run_key).state is RunState.STAGED
    (staged,) = (stage_dir / run_key).iterdir()
    assert re.fullmatch(LOCAL, staged.name)
    assert staged.name.endswith(".ms.tar")
    for path in (stage_dir, stage_dir / run_key):
        path.chmod(0o755)
    staged.chmod(0o644)

    datasets = [{"dataset_id": ids[0], "path": str(staged), "archive_name": hostile}]
    run_graph(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets})
    assert store.get_run(run_key).state is RunState.SUCCEEDED
    where = run_dir(slurm, run_key)
    (line,) = (where / "outputs" / "summary.txt").read_text().splitlines()
    assert line.split()[-1] == staged.name  # processed, under its local name
    assert not Path(markers[0]).exists()
    assert not Path(markers[1]).exists()
    assert not list(where.rglob("PWNED*"))
    assert not list(stage_dir.rglob("PWNED*"))


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    if not directory.exists():
        return {}
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in [directory, *directory.rglob("*")]}


@pytest.mark.parametrize("run_key", ["../../.ssh", "../../../tmp/x", "a/b"])
def test_a_hostile_run_key_fails_naming_it_and_writes_nothing(airflow_env, slurm, tmp_path, run_key: str) -> None:
    _, _, env = staged_run(tmp_path)
    ssh = Path("/home", slurm.user, ".ssh")
    runs = Path("/home", slurm.user, "dlg", "runs")
    before, runs_before = _snapshot(ssh), sorted(os.listdir(runs)) if runs.exists() else []
    datasets = [{"dataset_id": "d", "path": "/tmp/none.ms.tar"}]
    out = run_graph(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets}, check=False)
    log = out.stdout + out.stderr
    assert out.returncode != 0 or "failed" in log.lower()
    assert "run_key" in log
    assert "not a run key" in log
    assert _snapshot(ssh) == before
    assert not [
        n for n in (sorted(os.listdir(runs)) if runs.exists() else []) if n not in runs_before and n.startswith(".")
    ]


def test_a_hostile_run_key_fails_the_stage_task_before_anything_is_written(airflow_env, casda, tmp_path) -> None:
    _, _, env = staged_run(tmp_path)
    env |= {"AIRFLOW_CONN_CASDA_DEFAULT": casda_connection(casda)}
    target = tmp_path / "staged"
    conf = json.dumps({"run_key": "../../escaped", "directory": str(target / "a" / "b")})
    out = airflow_env.airflow("dags", "test", "beampipe_casda_stage", "--conf", conf, env=env, check=False)
    log = out.stdout + out.stderr
    assert "run_key '../../escaped': not a run key" in log
    assert not target.exists()
    assert not (tmp_path / "escaped").exists()
