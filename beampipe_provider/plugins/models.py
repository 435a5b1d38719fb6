"""What the API answers (and the pages render): pydantic models, so the OpenAPI schema says what comes back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from beampipe_provider.ledger.record_files import Problem
from beampipe_provider.ledger.records import DatasetRecord, SourceId
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import Source


class SourceOut(BaseModel):
    survey: str
    source_id: str
    enabled: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, source: Source) -> SourceOut:
        return cls.model_validate(source, from_attributes=True)


class SourcePage(BaseModel):
    items: list[SourceOut]
    next_after: int | None = Field(description="pass back as `after` for the next page; null on the last page")


class SourceCreated(BaseModel):
    created: bool = Field(description="false: the source was registered already and is left as it was")
    source: SourceOut


class Registered(BaseModel):
    survey: str
    created: list[str]
    existing: list[str] = Field(description="registered before: enabled flag and metadata left as they were")


class ProblemOut(BaseModel):
    where: str = Field(description='"line N" of a CSV file, "entry N" of a JSON list')
    field: str
    reason: str

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        return cls(where=problem.where, field=problem.field, reason=problem.reason)


class Rejected(BaseModel):
    """Every error answer (4xx, 5xx): `detail` says what was refused, `problems` names each field (where, field,
    reason); for a source list with bad lines, each bad line: nothing was registered."""

    detail: str
    problems: list[ProblemOut] = Field(default_factory=list)


class SourceIds(BaseModel):
    source_ids: list[SourceId] = Field(min_length=1, max_length=10_000)


class EnabledChanged(BaseModel):
    survey: str
    enabled: bool
    changed: int = Field(description="how many sources changed (the others were already so)")


class TaskLink(BaseModel):
    """The Airflow task instance that made a ledger transition, and its page in the Airflow UI."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    url: str


class Provenance(BaseModel):
    record_sha256: str
    key_id: str
    algorithm: str


class RunOut(BaseModel):
    run_key: str
    survey: str
    source_id: str
    state: RunState
    attempt: int
    workflow: str
    workflow_version: str
    parameters: dict[str, Any]
    scheduler: str | None
    facility: str | None = Field(description="the facility profile the run was planned for")
    cluster: str | None = Field(None, description="the Slurm cluster of the job, where the site has several")
    scheduler_job_id: str | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None = Field(description="finished - started (or submitted, if never seen running)")
    last_error: str | None
    dataset_count: int
    provenance: Provenance | None = Field(description="the signed provenance record; null: none yet")
    task: TaskLink | None = Field(description="the task instance that made the latest task-made transition")


class RunPage(BaseModel):
    items: list[RunOut]
    next_after: int | None


class EventOut(BaseModel):
    from_state: RunState | None
    to_state: RunState
    at: datetime
    actor: str
    detail: dict[str, Any]
    task: TaskLink | None


class RunDetail(RunOut):
    datasets: list[DatasetRecord]
    events: list[EventOut]
