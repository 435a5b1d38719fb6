"""How long Airflow's own DAG processor takes to parse the survey DAG file, against a one-task DAG file.

Each file is parsed by `airflow dags report` (the DagBag the dag-processor uses) in a fresh process, `--repeat`
times; the figure is the median of the per-file parse duration Airflow reports, and the ratio to the baseline file
measured in the same run. Parsing must stay far below `[core] dagbag_import_timeout` (30 s) and never touch the
network: the survey file reads only its YAML and checks that its files exist.

    .venv/bin/python bench/dag_parse.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).parent / "airflow"
BASELINE = '''"""A one-task Airflow DAG: the floor of parsing a DAG file."""
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="baseline", schedule=None):
    EmptyOperator(task_id="nothing")
'''


def parse_seconds(home: Path, folder: Path) -> tuple[float, int]:
    env = os.environ | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    out = subprocess.run(
        [str(AIRFLOW), "dags", "report", "-o", "json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    (row,) = json.loads(next(line for line in out.splitlines() if line.startswith("[{")))
    h, m, s = row["duration"].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s), int(row["task_num"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp, "home")
        subprocess.run(
            [str(AIRFLOW), "db", "migrate"],
            env=os.environ | {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
            capture_output=True,
            check=True,
        )
        survey = Path(tmp, "survey")
        shutil.copytree(ROOT / "dags", survey)
        baseline = Path(tmp, "baseline")
        baseline.mkdir()
        (baseline / "baseline.py").write_text(BASELINE)
        results = {}
        for name, folder in (("baseline (1 task)", baseline), ("dags/wallaby_hires.py", survey)):
            runs = [parse_seconds(home, folder) for _ in range(args.repeat)]
            results[name] = (statistics.median(s for s, _ in runs), runs[0][1])
    floor = results["baseline (1 task)"][0]
    print(f"{'file':<24} {'tasks':>5} {'parse (median)':>15} {'x baseline':>11}")
    for name, (seconds, tasks) in results.items():
        print(f"{name:<24} {tasks:>5} {seconds * 1000:>12.0f} ms {seconds / floor:>10.1f}x")


if __name__ == "__main__":
    main()
