"""Every trigger's event, typed: triggers build them, tasks read them back with `from_payload`, so nobody compares
`event["status"]` strings by hand. One schema per trigger for every outcome, JSON only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from airflow.triggers.base import BaseTrigger, TriggerEvent

from beampipe_provider.scheduler.base import JobStatus, Phase

JobOutcome = Literal["success", "failed", "timeout", "error"]


@dataclass(frozen=True)
class JobEvent:
    """SlurmJobTrigger: every job ended (success: all succeeded; failed: some did not), the deadline passed
    (timeout), or a job was lost (error). `jobs` holds each ended job's own state."""

    status: JobOutcome
    job_ids: list[str]
    message: str
    jobs: list[JobStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def job(self) -> JobStatus | None:
        return self.jobs[0] if self.jobs else None

    def to_payload(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "job_ids": list(self.job_ids),
            "jobs": [j.to_json() for j in self.jobs],
            "message": self.message,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> JobEvent:
        return cls(
            status=payload["status"],
            job_ids=[str(i) for i in payload["job_ids"]],
            message=str(payload.get("message", "")),
            jobs=[JobStatus.from_json(j) for j in payload.get("jobs", [])],
        )

    @classmethod
    def ended(cls, jobs: list[JobStatus]) -> JobEvent:
        """The event for jobs that have all ended, word for word whether a trigger or the task saw the end."""
        ok = all(j.phase is Phase.SUCCEEDED for j in jobs)
        return cls("success" if ok else "failed", [j.job_id for j in jobs], "; ".join(j.describe() for j in jobs), jobs)

    def event(self) -> TriggerEvent:
        return TriggerEvent(self.to_payload())


@dataclass(frozen=True)
class AdmissionEvent:
    """SlurmAdmissionTrigger: the queue has room (admitted), was still full at the deadline (timeout), or could not be
    read for long (error)."""

    status: Literal["admitted", "timeout", "error"]
    message: str

    @property
    def admitted(self) -> bool:
        return self.status == "admitted"

    def to_payload(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AdmissionEvent:
        return cls(status=payload["status"], message=str(payload.get("message", "")))

    def event(self) -> TriggerEvent:
        return TriggerEvent(self.to_payload())


@dataclass(frozen=True)
class DepositsEvent:
    """DepositTrigger: the window's datasets (success), the archive refused the query (error), or nothing came
    before the deadline (timeout). `datasets` are DatasetRecords as JSON."""

    status: Literal["success", "error", "timeout"]
    message: str
    datasets: list[dict[str, Any]] = field(default_factory=list)
    watermark: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"status": self.status, "datasets": self.datasets, "watermark": self.watermark, "message": self.message}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DepositsEvent:
        return cls(
            status=payload["status"],
            message=str(payload.get("message", "")),
            datasets=list(payload.get("datasets", [])),
            watermark=payload.get("watermark"),
        )

    def event(self) -> TriggerEvent:
        return TriggerEvent(self.to_payload())


@dataclass(frozen=True)
class DepositAnnouncement:
    """DepositEventTrigger (an AssetWatcher's): the deposits one poll found new, each with its products, and all
    their products together. An asset event carries it under `extra["payload"]`."""

    deposits: list[dict[str, Any]]
    datasets: list[dict[str, Any]]
    status: Literal["success"] = "success"

    def to_payload(self) -> dict[str, Any]:
        return {"status": self.status, "deposits": self.deposits, "datasets": self.datasets}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DepositAnnouncement:
        return cls(deposits=list(payload.get("deposits", [])), datasets=list(payload.get("datasets", [])))

    def event(self) -> TriggerEvent:
        return TriggerEvent(self.to_payload())


async def first_payload(trigger: BaseTrigger) -> dict[str, Any]:
    """Run a trigger's own code in the task (not deferrable) and take its first event, so both modes behave alike."""
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError(f"{type(trigger).__name__} ended without an event")
