"""The WALLABY survey DAG (dags/wallaby_hires.py + dags/surveys/wallaby_hires.yaml) in real Airflow runs: CASDA
emulator -> ledger -> staging -> a real DALiuGE graph in real Slurm jobs -> signed provenance; and its parse."""

from __future__ import annotations

from pathlib import Path

import yaml

from beampipe_provider.ledger.states import RunState
from beampipe_provider.provenance.chain import ProvenanceLedger
from tests.e2e.survey import ledger_store, sqlite_ledger, survey_env

# The emulator's first WALLABY block (SBID 33681, deposited 2024-03-01) holds one split visibility of each source.
# A manual run at 2024-03-02 looks back one schedule interval: that day.
FIRST_DAY_SOURCES = ["HIPASSJ1303+07", "HIPASSJ1318-21", "HIPASSJ1324-24"]


def test_a_day_of_deposits_runs_once_per_source_and_again_runs_nothing(
    airflow_env, survey_dags, casda, slurm, tmp_path, staging
) -> None:
    store = ledger_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    env, _ = survey_env(survey_dags, casda, slurm, sqlite_ledger(tmp_path / "ledger.db"), staging)

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


def test_a_run_whose_staging_fails_stops_only_itself(airflow_env, survey_dags, casda, slurm, tmp_path, staging) -> None:
    survey = survey_dags / "surveys" / "wallaby_hires.yaml"
    config = yaml.safe_load(survey.read_text())
    config["retries"]["retries"] = 0  # the first staging fails for good
    survey.write_text(yaml.safe_dump(config))
    store = ledger_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    env, _ = survey_env(survey_dags, casda, slurm, sqlite_ledger(tmp_path / "ledger.db"), staging)
    casda.faults(soda_job_error=1)  # CASDA's staging job for one run ends in ERROR

    out = airflow_env.airflow("dags", "test", "wallaby_hires", "2024-03-02", env=env, check=False)

    runs = store.list_runs("WALLABY").items
    states = sorted(r.state for r in runs)
    # the other two runs were processed all the same (they used to be skipped with the whole mapped task)
    assert states == sorted([RunState.DISCOVERED, RunState.SUCCEEDED, RunState.SUCCEEDED]), out.stdout[-8000:]
    assert len({r.scheduler_job_id for r in runs if r.state is RunState.SUCCEEDED}) == 2
    # the run whose staging failed for good is given back to the queue, saying why, its claim released...
    (given_back,) = [r for r in runs if r.state is RunState.DISCOVERED]
    assert given_back.scheduler_job_id is None  # nothing was submitted for the run without data
    assert given_back.claimed_by is None
    assert "run.stage" in (given_back.last_error or "")
    assert "StagingFailed" in (given_back.last_error or "")
    event = store.run_history(given_back.run_key)[-1]
    assert (event.to_state, event.detail["policy"]) == (RunState.DISCOVERED, "requeue")
    # ...and the DAG run is not green while a run of its batch is unfinished: the report names it and why
    assert out.returncode != 0
    log = out.stdout + out.stderr
    assert f"{given_back.run_key[:12]} ({given_back.source_id}): unfinished, DISCOVERED: " in log
