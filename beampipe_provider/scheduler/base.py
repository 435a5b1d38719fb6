"""What every batch scheduler offers (Slurm first): jobs, their states, and the errors that decide retries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Phase(StrEnum):
    """A job's lifecycle stage, common to every scheduler; the scheduler's own state is kept beside it."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"  # in neither the queue nor accounting: never taken as success

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    phase: Phase
    state: str  # the scheduler's own word, e.g. TIMEOUT or "CANCELLED by 1000"
    name: str = ""
    exit_code: int | None = None
    signal: int | None = None
    reason: str = ""
    cluster: str | None = None
    partition: str = ""
    nodes: str = ""
    submitted: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    comment: str = ""

    def describe(self) -> str:
        """What a person reads first: `job 123 FAILED (exit 3)`."""
        return f"job {self.job_id} {self.state} (exit {self.exit_code})"

    def to_json(self) -> dict[str, Any]:
        """JSON-safe fields, for trigger events and XCom."""
        return {
            "job_id": self.job_id,
            "phase": self.phase.value,
            "state": self.state,
            "name": self.name,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "cluster": self.cluster,
            "partition": self.partition,
            "nodes": self.nodes,
            "submitted": self.submitted.isoformat() if self.submitted else None,
            "started": self.started.isoformat() if self.started else None,
            "ended": self.ended.isoformat() if self.ended else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobStatus:
        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(
            job_id=data["job_id"],
            phase=Phase(data["phase"]),
            state=data["state"],
            name=data.get("name", ""),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
            reason=data.get("reason", ""),
            cluster=data.get("cluster"),
            partition=data.get("partition", ""),
            nodes=data.get("nodes", ""),
            submitted=when("submitted"),
            started=when("started"),
            ended=when("ended"),
        )


@dataclass(frozen=True)
class SubmittedJob:
    job_id: str
    cluster: str | None = None
    partition: str | None = None  # the partition chosen among the request's candidates, if it named several
    estimated_start: datetime | None = None  # when the scheduler expected it to start, if asked and it said
    estimate_note: str = ""  # the scheduler's own words about the start (or why it gave none)


class SchedulerError(Exception):
    """Base of every scheduler error."""


class TransportError(SchedulerError):
    """The login node could not be reached or the connection dropped: transient, retry later."""


class SchedulerUnavailable(TransportError):
    """The scheduler's daemons did not answer ("Unable to contact slurm controller", slurmdbd down): the command had
    no effect. Transient: a slurmctld or slurmdbd restart takes tens of seconds; wait and try again."""


class CommandFailed(SchedulerError):
    """A scheduler command ran and failed; carries everything needed to see why."""

    def __init__(self, command: str, exit_code: int, stdout: str, stderr: str) -> None:
        detail = (stderr or stdout).strip()[-2000:]
        super().__init__(f"`{command}` exited {exit_code}: {detail}")
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class SubmissionRefused(CommandFailed):
    """sbatch answered and refused the job (bad option, limit, unknown account): permanent for this request."""


class RequestRefused(SchedulerError):
    """Checked before submitting: the site can never grant this request (a partition's or an association's limit).
    Permanent: the run fails, naming the limit, instead of becoming a job that pends for ever."""


class SubmissionUncertain(SchedulerError):
    """sbatch was sent but its answer was lost: the job may exist. Reconcile by job name; never resubmit blind."""


class InvalidJobOption(ValueError):
    """A job option that cannot be passed to the scheduler safely; names the option and the reason."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class Scheduler(Protocol):
    """A batch scheduler reached through some transport (Slurm over SSH first). Core code: no Airflow.

    `request` is the scheduler's own job description (Slurm: SbatchOptions); `share` the submitter's part of the
    account's queue. `submit_request` checks the request against the site's limits, waits for nothing and raises
    QueueFull when the queue has no room, RequestRefused when the site can never run it, SubmissionUncertain when
    the answer was lost."""

    name: str
    clusters: str | None

    def submit_request(self, request: Any, script: str, share: Any) -> SubmittedJob: ...

    def find_by_name(self, name: str) -> Sequence[JobStatus]: ...

    def status(self, job_ids: Sequence[str]) -> Mapping[str, JobStatus]: ...

    def cancel(self, job_ids: Sequence[str]) -> None: ...

    def log_tail(self, path: str, lines: int = 50) -> str: ...

    def files(self) -> RemoteFiles: ...

    def close(self) -> None: ...


class RemoteFiles(Protocol):
    """The facility's filesystem as the login node sees it, through the scheduler's own connection."""

    def expand_path(self, path: str) -> str: ...

    def read_text(self, path: str) -> str: ...

    def write_text(self, path: str, text: str) -> None: ...

    def checksums(self, paths: Sequence[str]) -> dict[str, str]: ...

    def sftp(self) -> Any: ...
