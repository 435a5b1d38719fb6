"""Survey YAML files: the shipped WALLABY file loads; a bad one fails naming the file, the field and the reason,
and Airflow shows that as the DAG file's import error."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from beampipe_provider.surveys.config import SurveyConfigError, load_survey

DAGS = Path(__file__).parents[2] / "dags"


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    copy = tmp_path / "dags"
    shutil.copytree(DAGS, copy)
    return copy


def edit(dags: Path, change) -> Path:
    path = dags / "surveys" / "wallaby_hires.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_wallaby_survey_loads_with_its_archive_rules_and_files() -> None:
    config, base = load_survey(DAGS / "surveys" / "wallaby_hires.yaml")
    assert config.dag_id == "wallaby_hires"
    assert config.rules()["project_codes"] == ["AS102"]
    assert config.schedule.every == timedelta(days=1)
    assert (base / config.workflow.path).resolve() == (DAGS / "graphs" / "wallaby_hires_demo.graph").resolve()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["archive"].update(project_codes=[]), "archive: project_codes: List should have at least 1 item"),
        (lambda c: c["archive"].update(name="mast"), "archive: no archive adapter 'mast'; installed: casda, obscore"),
        (lambda c: c["archive"].update(project_codes=["AS102'; DROP"]), "archive: project_codes: "),
        (lambda c: c["batch"].update(size=0), "batch.size: Input should be greater than or equal to 1"),
        (
            lambda c: c["facility"].update(queue_share=1.5),
            "facility.queue_share: Input should be less than or equal to 1",
        ),
        (lambda c: c["schedule"].update(start_date="2024-03-01"), "schedule.start_date: needs a time zone"),
        (lambda c: c["facility"].update(profile="nowhere"), "facility.profile: no facility 'nowhere'"),
        (lambda c: c["workflow"].update(path="missing.graph"), "workflow.path: no such file: missing.graph"),
        (lambda c: c.update(retires=3), "retires: Extra inputs are not permitted"),
    ],
)
def test_a_bad_survey_file_names_the_file_and_the_field(dags: Path, change, message: str) -> None:
    path = edit(dags, change)
    with pytest.raises(SurveyConfigError) as caught:
        load_survey(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_airflow_shows_a_bad_survey_as_the_dag_files_import_error(dags: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    edit(dags, lambda c: c["batch"].update(size="lots"))
    bag = DagBag(str(dags))
    assert not bag.dags
    (error,) = bag.import_errors.values()
    assert str(dags / "surveys" / "wallaby_hires.yaml") in error
    assert "batch.size: Input should be a valid integer" in error


def test_the_survey_dags_parse_without_network_or_ledger(dags: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(dags))  # no connections, no ledger, no emulator exist here
    assert bag.import_errors == {}
    periodic, events = bag.dags["wallaby_hires"], bag.dags["wallaby_hires_events"]
    assert [t.task_id for t in periodic.tasks] == ["find_deposits", "plan", "run.stage", "run.process", "report"]
    # one mapped group per run: a run's job waits for its own staging only
    assert periodic.task_dict["run.process"].upstream_task_ids == {"plan", "run.stage"}
    assert periodic.task_dict["run.process"].max_active_tis_per_dag == 4
    (asset,) = events.timetable.asset_condition.objects
    (watcher,) = asset.watchers  # the event-driven variant: a watcher polling the survey's archive
    assert type(watcher.trigger).__name__ == "DepositEventTrigger"
    assert watcher.trigger.archive == "casda"
    assert watcher.trigger.rules["project_codes"] == ["AS102"]
