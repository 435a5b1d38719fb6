"""A survey on the second archive and the second engine, through the same DAG factory: a plain ObsCore service (the
emulator's /obscore mount) -> ledger -> staging through DataLink (a direct link and a SODA job) -> the demo's
measurement as CWL, run by cwltool in real Slurm jobs -> signed provenance that verifies."""

from __future__ import annotations

from pathlib import Path

import yaml

from beampipe_provider.ledger.states import RunState
from beampipe_provider.provenance.chain import ProvenanceLedger
from tests.e2e.survey import ledger_store, sqlite_ledger, survey_env

# The mount's first MeerKAT-HI observation (MKT-1001, released 2024-05-01): one visibility of each of two sources,
# one delivered by a DataLink #this link, one through a SODA async job.
SOURCES = ["HIPASSJ1303+07", "HIPASSJ1318-21"]


def meerkat_survey(dags: Path, tap_url: str) -> None:
    survey = yaml.safe_load((dags / "surveys" / "wallaby_hires.yaml").read_text())
    survey.update(dag_id="meerkat_measure", survey="MEERKAT", description="MeerKAT-HI visibilities measured in CWL")
    survey["archive"] = {
        "name": "obscore",
        "tap_url": tap_url,
        "collections": ["MeerKAT-HI"],
        "dataproduct_types": ["visibility"],
        "source_field": "target_name",
    }
    survey["sources"] = {"file": "meerkat_sources.csv"}
    survey["workflow"] = {
        "name": "wallaby-measure",
        "version": "1.0",
        "engine": "cwl",
        "path": "../workflows/wallaby_measure.cwl",
        "input_name": "datasets",
        # the per-test session id stays (see survey_dags); the DALiuGE graph's override does not apply
        "parameters": {k: v for k, v in survey["workflow"]["parameters"].items() if k != "summary.filepath"},
    }
    survey["schedule"]["start_date"] = "2024-05-01T00:00:00Z"
    (dags / "surveys" / "meerkat.yaml").write_text(yaml.safe_dump(survey))
    (dags / "surveys" / "meerkat_sources.csv").write_text("source_id\n" + "\n".join(SOURCES) + "\n")
    (dags / "meerkat.py").write_text(
        '"""The MeerKAT survey\'s Airflow DAG."""\n\nfrom beampipe_provider.surveys.dag import survey_dag\n\n'
        'meerkat_measure = survey_dag(__file__, "surveys/meerkat.yaml")\n'
    )


def test_an_obscore_survey_runs_its_cwl_workflow_end_to_end(
    airflow_env, survey_dags, casda, slurm, tmp_path, staging
) -> None:
    meerkat_survey(survey_dags, casda.base_url + "/obscore/tap")
    store = ledger_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    env, _ = survey_env(survey_dags, casda, slurm, sqlite_ledger(tmp_path / "ledger.db"), staging)

    out = airflow_env.airflow("dags", "test", "meerkat_measure", "2024-05-02", env=env, check=False)

    log = out.stdout + out.stderr
    runs = store.list_runs("MEERKAT").items
    assert sorted(r.source_id for r in runs) == SOURCES, log[-6000:]
    assert {r.state for r in runs} == {RunState.SUCCEEDED}, log[-8000:]
    assert out.returncode == 0
    for run in runs:
        (dataset,) = store.run_datasets(run.run_key)
        assert dataset.archive == "obscore"
        (staged,) = (staging / run.run_key).iterdir()  # fetched and verified by the Repr-Digest the service sent
        assert staged.name == f"{run.source_id}_beam0{SOURCES.index(run.source_id)}.ms.tar"
        summary = Path("/home", slurm.user, "dlg", "runs", run.run_key, "outputs", "summary.txt")
        assert summary.read_text().split()[-1] == staged.name  # cwltool's measure step read the staged file
        envelope = ProvenanceLedger(store.engine).get(run.run_key)
        assert envelope is not None
        assert envelope["record"]["workflow"]["engine"] == "cwl"
    report = [line.split() for line in log.splitlines() if line.startswith(tuple(SOURCES))]
    assert sorted((row[0], row[2], row[-1]) for row in report) == [(s, "SUCCEEDED", "verified") for s in SOURCES]
