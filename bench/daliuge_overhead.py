"""What running a graph through DALiuGE on Slurm costs, on the real local cluster (scripts/local-slurm).

For graphs of 1, 10 and 100 datasets (the demo WALLABY graph: one app per dataset, one gather):
- worker side: preparing the run (graph patch, manifest, bundle) and uploading it over SFTP;
- in the job: starting the node and island managers, translating and deploying the graph, against the
  session's own run time (the apps), and the job's wall time from sbatch to accounted end.

    .venv/bin/python bench/daliuge_overhead.py [--datasets 1 10 100]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beampipe_provider.scheduler.slurm import sbatch_options
from beampipe_provider.workflow.bundle import upload
from beampipe_provider.workflow.daliuge.bundle import make_bundle, render_script
from beampipe_provider.workflow.daliuge.graph import load_graph
from beampipe_provider.workflow.facility import load_facility
from tests.slurm_cluster import local_slurm

GRAPH = Path(__file__).resolve().parents[1] / "dags" / "graphs" / "wallaby_hires_demo.graph"


def make_inputs(directory: Path, n: int) -> list[dict[str, str]]:
    directory.mkdir(mode=0o755)
    datasets = []
    for i in range(n):
        member = directory / f"beam{i}.txt"
        member.write_bytes(bytes(range(256)) * 64)
        path = directory / f"HIPASSJ1318-21_A_beam{i:03d}_10arc_split.ms.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(member, arcname=member.name)
        path.chmod(0o644)
        datasets.append({"dataset_id": path.name, "path": str(path)})
    return datasets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    slurm = local_slurm()
    facility = load_facility("local")
    scheduler = slurm.scheduler()
    client = slurm.connect()
    sftp = client.open_sftp()
    graph = load_graph(GRAPH)
    root = scheduler.expand_path(facility.dlg_root)
    print(
        f"{'N':>4} {'prepare s':>9} {'upload s':>8} {'managers s':>10} {'translate+deploy s':>18} "
        f"{'apps s':>7} {'in-job total s':>14} {'overhead/apps':>13} {'sbatch->end s':>13}"
    )
    for n in args.datasets:
        inputs = Path("/tmp", f"beampipe-bench-{uuid.uuid4().hex[:8]}")
        key = f"bench-{n}-{uuid.uuid4().hex[:8]}"
        run_dir = f"{root}/runs/{key}"
        try:
            datasets = make_inputs(inputs, n)
            t0 = time.perf_counter()
            bundle = make_bundle(
                graph,
                run_key=key,
                datasets=datasets,
                parameters={"summary.filepath": "{outputs}/summary.txt"},
                inputs_node="inputs",
                outputs_dir=f"{run_dir}/outputs",
            )
            t1 = time.perf_counter()
            upload(sftp, run_dir, bundle)
            t2 = time.perf_counter()
            options = sbatch_options(**facility.sbatch, job_name=f"bp-{key}", chdir=run_dir, output="slurm-%j.out")
            job = scheduler.submit(options, render_script(facility, run_dir, timeout_s=1800))
            while not (status := scheduler.status([job.job_id])[job.job_id]).phase.terminal:
                time.sleep(0.5)
            wall = time.perf_counter() - t2
            outcome = json.loads(scheduler.read_text(f"{run_dir}/outcome.json"))
            timings = outcome["timings"]
            translate_deploy = timings["total_s"] - timings["managers_s"] - timings["run_s"]
            overhead = timings["total_s"] - timings["run_s"]
            print(
                f"{n:>4} {t1 - t0:>9.3f} {t2 - t1:>8.3f} {timings['managers_s']:>10.2f} {translate_deploy:>18.2f} "
                f"{timings['run_s']:>7.2f} {timings['total_s']:>14.2f} {overhead / timings['run_s']:>13.1f} "
                f"{wall:>13.1f}   ({status.state}, session {outcome['state']})"
            )
        finally:
            shutil.rmtree(inputs, ignore_errors=True)
    sftp.close()
    client.close()
    scheduler.close()


if __name__ == "__main__":
    main()
