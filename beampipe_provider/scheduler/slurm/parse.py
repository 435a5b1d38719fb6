"""Readers for sbatch, squeue and sacct text output (not --json: its shape changes across Slurm releases).

Every reader tolerates the `CLUSTER: name` lines that squeue prints with -M/--clusters, and refuses a line it
cannot read with an error that quotes it, instead of guessing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from beampipe_provider.scheduler.base import JobStatus, Phase, SchedulerError, SubmittedJob

# Every job state Slurm documents (squeue -o %T and sacct State), 22.05 through 24.x.
STATE_PHASES: dict[str, Phase] = {
    "PENDING": Phase.QUEUED,
    "CONFIGURING": Phase.QUEUED,
    "REQUEUED": Phase.QUEUED,
    "REQUEUE_HOLD": Phase.QUEUED,
    "REQUEUE_FED": Phase.QUEUED,
    "RESV_DEL_HOLD": Phase.QUEUED,
    "RUNNING": Phase.RUNNING,
    "COMPLETING": Phase.RUNNING,
    "SUSPENDED": Phase.RUNNING,
    "STOPPED": Phase.RUNNING,
    "RESIZING": Phase.RUNNING,
    "SIGNALING": Phase.RUNNING,
    "STAGE_OUT": Phase.RUNNING,
    "UPDATE_DB": Phase.RUNNING,
    "POWER_UP_NODE": Phase.QUEUED,
    "COMPLETED": Phase.SUCCEEDED,
    "FAILED": Phase.FAILED,
    "TIMEOUT": Phase.FAILED,
    "OUT_OF_MEMORY": Phase.FAILED,
    "NODE_FAIL": Phase.FAILED,
    "PREEMPTED": Phase.FAILED,
    "BOOT_FAIL": Phase.FAILED,
    "DEADLINE": Phase.FAILED,
    "SPECIAL_EXIT": Phase.FAILED,
    "CANCELLED": Phase.CANCELLED,
    "REVOKED": Phase.CANCELLED,
}

SQUEUE_FORMAT = "%i|%A|%T|%r|%P|%N|%V|%S|%e|%j"
SACCT_FIELDS = "JobID,State,ExitCode,Reason,Partition,NodeList,Submit,Start,End,Cluster,JobName,Comment"

# squeue answers an id list that names no job it holds with this, and exit 1; for us that is "none in the queue".
SQUEUE_NO_SUCH_JOB = "Invalid job id specified"


class UnreadableOutput(SchedulerError):
    """Scheduler output that does not have the expected shape; quotes the offending line."""


def phase_of(state: str, exit_code: int | None = None) -> Phase:
    """The phase of a Slurm state word, e.g. 'CANCELLED by 1000' -> CANCELLED. An unknown word is UNKNOWN."""
    word = state.split(" ", 1)[0].rstrip("+").upper()
    phase = STATE_PHASES.get(word, Phase.UNKNOWN)
    if phase is Phase.SUCCEEDED and exit_code not in (None, 0):
        return Phase.FAILED
    return phase


def parse_sbatch(stdout: str) -> SubmittedJob:
    """`sbatch --parsable` prints `jobid` or, with --clusters, `jobid;cluster`."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise UnreadableOutput("sbatch printed no job id")
    job_id, _, cluster = lines[-1].partition(";")
    if not job_id.isdigit():
        raise UnreadableOutput(f"sbatch printed no job id: {lines[-1]!r}")
    return SubmittedJob(job_id=job_id, cluster=cluster or None)


def parse_time(value: str) -> datetime | None:
    """Slurm prints times as 2026-11-29T08:24:47 (we run it with TZ=UTC), or Unknown/None/N/A when unset."""
    value = value.strip()
    if not value or value in {"Unknown", "None", "N/A", "(null)"}:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_exit_code(value: str) -> tuple[int | None, int | None]:
    """sacct's ExitCode `code:signal`."""
    code, _, signal = value.strip().partition(":")
    if not code.isdigit():
        return None, None
    return int(code), int(signal) if signal.isdigit() else None


def _lines(text: str) -> Iterator[tuple[str | None, str]]:
    cluster: str | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("CLUSTER: "):
            cluster = line.removeprefix("CLUSTER: ").strip()
            continue
        yield cluster, line


def parse_squeue(text: str) -> list[JobStatus]:
    """Rows of `squeue -h --states=all -o SQUEUE_FORMAT`; the job name is last so a '|' in it cannot shift fields."""
    rows = []
    for cluster, line in _lines(text):
        parts = line.split("|", 9)
        if len(parts) != 10:
            raise UnreadableOutput(f"squeue line with {len(parts)} fields, expected 10: {line!r}")
        job_id, _array_id, state, reason, partition, nodes, submit, start, end, name = parts
        rows.append(
            JobStatus(
                job_id=job_id,
                phase=phase_of(state),
                state=state,
                name=name,
                reason="" if reason == "None" else reason,
                cluster=cluster,
                partition=partition,
                nodes=nodes,
                submitted=parse_time(submit),
                started=parse_time(start),
                ended=parse_time(end) if phase_of(state).terminal else None,
            )
        )
    return rows


def parse_sacct(text: str) -> list[JobStatus]:
    """Rows of `sacct -P -n -X -o SACCT_FIELDS`; job and comment are last, so a '|' in them cannot shift fields."""
    rows = []
    n = SACCT_FIELDS.count(",") + 1
    for header_cluster, line in _lines(text):
        parts = line.split("|", n - 1)
        if len(parts) != n:
            raise UnreadableOutput(f"sacct line with {len(parts)} fields, expected {n}: {line!r}")
        job_id, state, exit_code, reason, partition, nodes, submit, start, end, cluster, rest, comment = parts
        code, signal = parse_exit_code(exit_code)
        rows.append(
            JobStatus(
                job_id=job_id,
                phase=phase_of(state, code),
                state=state,
                name=rest,
                exit_code=code,
                signal=signal,
                reason="" if reason == "None" else reason,
                cluster=cluster or header_cluster,
                partition=partition,
                nodes="" if nodes == "None assigned" else nodes,
                submitted=parse_time(submit),
                started=parse_time(start),
                ended=parse_time(end),
                comment=comment,
            )
        )
    return rows


def base_job_id(job_id: str) -> str:
    """'123_4', '123_[5-9]' and '123+0' (array tasks, pending array ranges, het job parts) belong to job 123."""
    for sep in ("_", "+", "."):
        job_id = job_id.split(sep, 1)[0]
    return job_id


def combine(job_id: str, rows: Iterable[JobStatus]) -> JobStatus | None:
    """One status for a job from its rows; an array is done when every task is, and succeeded when all did."""
    rows = list(rows)
    if not rows:
        return None
    exact = [r for r in rows if r.job_id == job_id]
    if exact and len(rows) == 1:
        return exact[0]
    phases = [r.phase for r in rows]
    if not all(p.terminal for p in phases):
        phase = Phase.RUNNING if Phase.RUNNING in phases else Phase.QUEUED
        if Phase.UNKNOWN in phases:
            phase = Phase.UNKNOWN
    elif all(p is Phase.SUCCEEDED for p in phases):
        phase = Phase.SUCCEEDED
    elif Phase.FAILED in phases:
        phase = Phase.FAILED
    else:
        phase = Phase.CANCELLED
    counts: dict[str, int] = {}
    for r in rows:
        word = r.state.split(" ", 1)[0]
        counts[word] = counts.get(word, 0) + 1
    first = rows[0]
    failing = next((r for r in rows if r.phase is Phase.FAILED), None)
    return JobStatus(
        job_id=job_id,
        phase=phase,
        state=", ".join(f"{n} {word}" for word, n in sorted(counts.items())),
        name=first.name,
        exit_code=max((r.exit_code for r in rows if r.exit_code is not None), default=None),
        signal=failing.signal if failing else None,
        reason=failing.reason if failing else first.reason,
        cluster=first.cluster,
        partition=first.partition,
        nodes=",".join(sorted({r.nodes for r in rows if r.nodes})),
        submitted=min((r.submitted for r in rows if r.submitted), default=None),
        started=min((r.started for r in rows if r.started), default=None),
        ended=max((r.ended for r in rows if r.ended), default=None) if phase.terminal else None,
        comment=first.comment,
    )
