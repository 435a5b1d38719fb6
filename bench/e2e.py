"""50 WALLABY deposits through the whole survey DAG on the local cluster, against a plain sbatch loop.

The deployment is the one of docker-compose.airflow.yml run natively (tests/topology.py: scheduler, dag-processor,
triggerer, two Celery workers, api-server; metadata and ledger on PostgreSQL). 50 deposits (one source each) go into
the CASDA emulator; one DAG run of `wallaby_hires` finds, plans, stages, runs 50 DALiuGE jobs on Slurm (4 at a
time: the survey's `max_active_runs`, which is also all the node fits) and signs their provenance. Printed:
time from deposit to run SUCCEEDED (median, p95), and the orchestration overhead: the DAG's wall time divided by
the wall time of the same 50 job scripts submitted by a plain `sbatch` loop over one SSH session, right after, on
the same cluster. Target: overhead under 1.3.

    .venv/bin/python bench/e2e.py [--deposits 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beampipe_provider.ledger.record_files import load_source_list
from beampipe_provider.ledger.states import TERMINAL
from beampipe_provider.workflow.daliuge.bundle import render_script
from beampipe_provider.workflow.facility import load_facility
from tests.casda_emulator import casda_emulator
from tests.databases import fresh_postgres
from tests.e2e.survey import ledger_store, survey_env
from tests.slurm_cluster import local_slurm
from tests.topology import airflow_cluster

ROOT = Path(__file__).resolve().parents[1]
DAY = datetime(2024, 4, 1, tzinfo=UTC)


def survey_folder(tmp: Path, deposits: int) -> Path:
    dags = tmp / "dags"
    shutil.copytree(ROOT / "dags", dags)
    path = dags / "surveys" / "wallaby_hires.yaml"
    config = yaml.safe_load(path.read_text())
    config["workflow"]["parameters"]["bench"] = uuid.uuid4().hex  # fresh run keys: no adoption of earlier jobs
    config["batch"]["size"] = deposits
    config["facility"]["poll_interval"] = "PT2S"
    path.write_text(yaml.safe_dump(config))
    return dags


def pg_connection(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return json.dumps(
        {
            "conn_type": "beampipe_ledger",
            "host": u.host,
            "port": u.port,
            "login": u.username,
            "schema": u.database,
            "extra": {"dialect": "postgresql"},
        }
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sbatch_loop(slurm, run_dirs: list[str]) -> tuple[float, int]:
    """The same job scripts, submitted by a plain loop in one SSH session; wall time until the last one ends."""
    facility = load_facility("local")
    options = "--partition=work --time=00:10:00 --nodes=1 --cpus-per-task=2 --mem=2G --job-name=bp-baseline"
    lines = ["set -e"]
    for run_dir in run_dirs:
        script = render_script(facility, run_dir, timeout_s=600)
        lines += [f"cat > {run_dir}/baseline.sh <<'EOF'\n{script}EOF"]
    lines += [f"sbatch --parsable {options} --chdir={d} --output={d}/baseline-%j.out {d}/baseline.sh" for d in run_dirs]
    ssh = [
        "ssh",
        *("-p", str(slurm.port), "-i", slurm.key_file, "-o", f"UserKnownHostsFile={slurm.known_hosts}"),
        *("-o", "BatchMode=yes", f"{slurm.user}@{slurm.host}"),
    ]
    start = time.monotonic()
    job_ids = subprocess.run([*ssh, "bash -s"], input="\n".join(lines), text=True, capture_output=True, check=True)
    ids = job_ids.stdout.split()
    while subprocess.run([*ssh, "squeue -h -n bp-baseline"], capture_output=True, text=True, check=True).stdout:
        time.sleep(0.5)
    wall = time.monotonic() - start
    states = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-o", "State", "-j", ",".join(ids)], capture_output=True, text=True, check=True
    ).stdout.split()
    return wall, sum(state != "COMPLETED" for state in states)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deposits", type=int, default=50)
    args = parser.parse_args()
    slurm = local_slurm()
    sources = [s.source_id for s in load_source_list(ROOT / "dags" / "surveys" / "wallaby_hires_sources.csv")]
    with (
        tempfile.TemporaryDirectory() as tmp,
        casda_emulator("--seed", "empty") as casda,
        fresh_postgres() as ledger_url,
    ):
        staging = Path("/tmp", f"beampipe-bench-{uuid.uuid4().hex[:8]}")
        staging.mkdir(mode=0o755)
        store = ledger_store(ledger_url)
        dags = survey_folder(Path(tmp), args.deposits)
        env, _ = survey_env(dags, casda, slurm, pg_connection(ledger_url), staging)
        try:
            with airflow_cluster(dags, env, concurrency=4) as cluster:
                cluster.wait_for_dag("wallaby_hires")
                deposited = datetime.now(UTC)
                for i in range(args.deposits):
                    when = (DAY + timedelta(minutes=10 * i)).isoformat()
                    casda.deposit(60000 + i, [sources[i % len(sources)]], when=when)
                cluster.api("PATCH", "/api/v2/dags/wallaby_hires", json={"is_paused": False})
                body = {"logical_date": (DAY + timedelta(days=1)).isoformat(), "conf": {}}
                run_id = cluster.api("POST", "/api/v2/dags/wallaby_hires/dagRuns", json=body).json()["dag_run_id"]
                state = cluster.wait("wallaby_hires", run_id, timeout=3600, poll=2)
            runs = [r for r in store.list_runs("WALLABY", limit=10_000).items if r.state in TERMINAL]
            done = [r for r in runs if r.finished_at]
            latency = [(r.finished_at - deposited).total_seconds() for r in done if r.finished_at]
            last = max(r.finished_at for r in done if r.finished_at)
            first_submit = min(r.submitted_at for r in done if r.submitted_at)
            dag_wall = (last - deposited).total_seconds()
            jobs_wall = (last - first_submit).total_seconds()  # the part a plain loop also does
            # The baseline runs the same scripts over the same staged inputs, so before they are removed.
            loop_wall, loop_failed = sbatch_loop(slurm, [f"/home/{slurm.user}/dlg/runs/{r.run_key}" for r in done])
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    succeeded = sum(r.state.value == "SUCCEEDED" for r in runs)
    print(f"deposits: {args.deposits}; DAG run {state}; runs finished: {len(done)} ({succeeded} succeeded)")
    print(f"deposit -> SUCCEEDED: median {statistics.median(latency):.1f} s, p95 {percentile(latency, 0.95):.1f} s")
    print(f"DAG wall time (deposit -> last run done): {dag_wall:.1f} s")
    print(f"plain sbatch loop, same {len(done)} scripts: {loop_wall:.1f} s ({loop_failed} not COMPLETED)")
    print(f"orchestration overhead: {dag_wall / loop_wall:.2f}x (target < 1.3)")
    print(
        f"  of which before the first sbatch (poll, plan, staging): {dag_wall - jobs_wall:.1f} s; "
        f"first sbatch -> last job done: {jobs_wall:.1f} s ({jobs_wall / loop_wall:.2f}x the loop)"
    )


if __name__ == "__main__":
    main()
