"""A survey described in YAML (dags/surveys/*.yaml): what to find in the archive, which sources, which workflow on
which facility, how often, and how much at once. Validated by pydantic; no Airflow here (the DAG factory reads it).

A bad file fails with its path, the field and the reason, e.g.
`dags/surveys/wallaby_hires.yaml: archive.project_codes: List should have at least 1 item after validation`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from beampipe_provider.archive.base import archive_class
from beampipe_provider.common.names import WORKFLOW_NAME, WORKFLOW_VERSION
from beampipe_provider.common.yaml_models import parse_yaml_model
from beampipe_provider.ledger.records import Survey
from beampipe_provider.runs.failures import OnGiveUp
from beampipe_provider.workflow.facility import FacilityError, check_sbatch, load_facility

_DAG_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$")


class SurveyConfigError(ValueError):
    """A survey file that cannot be used; names the file, the field and the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _conn_id(value: str) -> str:
    if not _CONN_ID.fullmatch(value):
        raise ValueError(f"not a connection id: {value!r}")
    return value


class Archive(BaseModel):
    """Which archive (an adapter of `beampipe.archives`: casda, obscore) and what counts as a deposit there: every
    other field is the adapter's own rules (CASDA: project_codes, collections, dataproduct_types, filename_patterns,
    event_types, source_pattern, released_only; see its `Rules`), checked at load time as its queries check them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field("casda", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    conn_id: str | None = None  # endpoints and credentials; CASDA's default is casda_default (else public CASDA)

    @field_validator("conn_id")
    @classmethod
    def _conn(cls, value: str | None) -> str | None:
        return value if value is None else _conn_id(value)

    @model_validator(mode="after")
    def _as_rules(self) -> Archive:
        """The same checks the archive's queries get, at load time (the survey name is checked on its own)."""
        try:
            self.rules("CHECK")
        except LookupError as exc:
            raise ValueError(str(exc)) from None
        except ValidationError as exc:
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        return self

    @property
    def connection(self) -> str | None:
        return self.conn_id or ("casda_default" if self.name == "casda" else None)

    def rules(self, survey: str) -> dict[str, Any]:
        """The archive's rules for this survey, as its sensor and triggers take them (JSON)."""
        model = archive_class(self.name).Rules
        return dict(model.model_validate({**(self.model_extra or {}), "survey": survey}).model_dump(mode="json"))


class Sources(_Strict):
    """Runs are made only for registered, enabled sources. `file` (CSV or JSON, relative to the survey file) is
    registered before each planning pass: idempotent, and it never re-enables a source an operator disabled."""

    file: str | None = None


class Workflow(BaseModel):
    """What runs per run: `engine` (an entry point of `beampipe.workflows`: daliuge, cwl) and its document `path`
    (a logical graph, a CWL file; relative to the survey file). Other fields are the engine's own options (DALiuGE:
    inputs_node; CWL: input_name, inputs)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=WORKFLOW_NAME)
    version: str = Field(pattern=WORKFLOW_VERSION)
    engine: str = Field("daliuge", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    path: str
    parameters: dict[str, Any] = Field(default_factory=dict)  # DALiuGE "node.field" overrides, CWL inputs, ...

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FacilityUse(_Strict):
    """Where runs go, and how many at once: a survey never floods a facility."""

    profile: str  # a built-in profile (setonix, local) or a YAML file relative to the survey file
    ssh_conn_id: str = "slurm_default"
    max_active_runs: int = Field(4, ge=1, le=10_000)  # Slurm jobs of this survey at once (mapped tasks)
    pool: str | None = None  # an Airflow pool shared with other surveys on the same facility
    sbatch: dict[str, Any] = Field(default_factory=dict)  # per-survey sbatch options over the profile's
    # The part of the account's Slurm queue (MaxSubmitJobs, or the profile's max_queued) this survey may fill,
    # so surveys sharing an allocation each keep theirs; 1.0 is all of it.
    queue_share: float = Field(1.0, gt=0, le=1)
    job_timeout: timedelta = timedelta(hours=6)
    poll_interval: timedelta = timedelta(seconds=30)
    # How long a process task may take in all: waiting for room in the queue, the job, collecting its outputs.
    # Without it, the job's time limit plus six hours: nothing waits for ever.
    task_timeout: timedelta | None = None

    @property
    def process_timeout(self) -> timedelta:
        return self.task_timeout or self.job_timeout + timedelta(hours=6)

    @field_validator("ssh_conn_id")
    @classmethod
    def _conn(cls, value: str) -> str:
        return _conn_id(value)

    @field_validator("sbatch")
    @classmethod
    def _sbatch(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_sbatch(value)  # at load time, not at the first submit


class Schedule(_Strict):
    """One DAG run per data interval: `airflow backfill create` walks past intervals the same way."""

    every: timedelta = timedelta(hours=1)
    start_date: datetime
    poke_interval: timedelta = timedelta(minutes=5)  # how often the sensor asks CASDA within one interval
    catchup: bool = False

    @field_validator("every", "poke_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2024-03-01T00:00:00Z")
        return value


class Batching(_Strict):
    """How much one DAG run takes on: at most `size` runs; it waits for `min_sources` sources with deposits in the
    interval, or until `max_wait` after the interval's end, whichever comes first."""

    size: int = Field(50, ge=1, le=10_000)
    min_sources: int = Field(1, ge=1)
    max_wait: timedelta = timedelta(hours=6)


class Lifetime(_Strict):
    sensor_timeout: timedelta = timedelta(hours=12)  # the deposit sensor gives up (the run fails) after this
    escalate_after: timedelta = timedelta(days=2)  # a run not finished after this fails the report task
    # A stage or process task that failed for good (its retries spent): the run goes back to the queue for the
    # next DAG run (requeue) or is FAILED until an operator requeues it (fail). Either way the run says why, and the
    # DAG run's report fails naming it.
    on_task_failure: OnGiveUp = OnGiveUp.REQUEUE


class Retries(_Strict):
    retries: int = Field(2, ge=0, le=100)
    retry_delay: timedelta = timedelta(minutes=5)


class Staging(_Strict):
    # Templated (Jinja) so a deployment can point it elsewhere, e.g. "{{ var.value.wallaby_staging }}". It must be
    # readable by the facility's jobs: on a real site, a filesystem both the worker and the compute nodes mount.
    directory: str
    timeout: timedelta = timedelta(hours=6)
    max_active: int = Field(4, ge=1, le=1000)  # downloads from the archive at once


class Provenance(_Strict):
    key_conn_id: str | None = None  # a connection holding the Ed25519 signing key; None: no signed records

    @field_validator("key_conn_id")
    @classmethod
    def _conn(cls, value: str | None) -> str | None:
        return value if value is None else _conn_id(value)


class SurveyConfig(_Strict):
    dag_id: str
    survey: Survey
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    ledger_conn_id: str = "beampipe_ledger_default"
    archive: Archive
    sources: Sources = Field(default_factory=Sources)
    workflow: Workflow
    facility: FacilityUse
    schedule: Schedule
    batch: Batching = Field(default_factory=Batching)
    lifetime: Lifetime = Field(default_factory=Lifetime)
    retries: Retries = Field(default_factory=Retries)
    staging: Staging
    provenance: Provenance = Field(default_factory=Provenance)

    @field_validator("dag_id")
    @classmethod
    def _dag_id(cls, value: str) -> str:
        if not _DAG_ID.fullmatch(value):
            raise ValueError("letters, digits, '_', '.' and '-' only")
        return value

    def rules(self) -> dict[str, Any]:
        return self.archive.rules(self.survey)


def resolve(base: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def load_survey(path: str | Path) -> tuple[SurveyConfig, Path]:
    """The survey of a YAML file and the directory its relative paths are taken from. Reads small local files only
    (the workflow is checked to exist, not parsed), so DAG parsing stays fast."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SurveyConfigError(f"{path}: cannot read: {exc.strerror}") from None
    config = parse_yaml_model(text, SurveyConfig, source=str(path), error=SurveyConfigError)
    base = path.resolve().parent
    problems = []
    if not resolve(base, config.workflow.path).is_file():
        problems.append(f"workflow.path: no such file: {config.workflow.path}")
    if config.sources.file and not resolve(base, config.sources.file).is_file():
        problems.append(f"sources.file: no such file: {config.sources.file}")
    profile = config.facility.profile
    try:
        load_facility(resolve(base, profile) if profile.endswith((".yaml", ".yml")) else profile)
    except FacilityError as exc:
        problems.append(f"facility.profile: {exc}")
    if problems:
        raise SurveyConfigError(f"{path}: " + "; ".join(problems))
    return config, base
