"""What each Slurm operation asks of the login node, as sans-I/O steps shared by the sync and async schedulers.

Status is one `squeue` (what slurmctld holds) and, only for jobs it no longer holds or that have ended, one
`sacct` (exit codes and finished jobs), per 500 jobs. A job in neither is UNKNOWN, never a success."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from beampipe_provider.scheduler.admission import Bounds, QueuedJob, QueueFull
from beampipe_provider.scheduler.base import (
    CommandFailed,
    JobStatus,
    Phase,
    SubmissionRefused,
    SubmittedJob,
)
from beampipe_provider.scheduler.slurm.limits import SiteLimits, parse_partitions, parse_user_limits, parse_user_queue
from beampipe_provider.scheduler.slurm.options import SbatchOptions, sbatch_argv
from beampipe_provider.scheduler.slurm.parse import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    SQUEUE_NO_SUCH_JOB,
    base_job_id,
    combine,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
)
from beampipe_provider.scheduler.transport import CommandResult

BATCH = 500  # job ids per squeue/sacct call: keeps the command line short and the answer small
LOOKBACK = "now-30days"  # how far back sacct looks for a job by name or id
_JOB_ID = re.compile(r"^[0-9]+(_[0-9]+)?$")


@dataclass(frozen=True)
class Command:
    argv: list[str]
    stdin: str | None = None
    # sbatch: if the connection drops after sending, the job may exist, so the outcome is uncertain
    submits: bool = False

    @property
    def line(self) -> str:
        return shlex.join(self.argv)


def _utc(argv: list[str]) -> list[str]:
    return ["env", "TZ=UTC", *argv]  # Slurm prints local times without a zone; make them UTC


def _clusters(clusters: str | None) -> list[str]:
    return [f"--clusters={clusters}"] if clusters else []


def _check_ids(job_ids: Sequence[str]) -> list[str]:
    for job_id in job_ids:
        if not _JOB_ID.fullmatch(job_id):
            raise ValueError(f"not a Slurm job id: {job_id!r}")
    return list(job_ids)


# What Slurm's commands print when slurmctld or slurmdbd cannot be reached (the command did nothing): transient.
_UNREACHABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out on send/recv|Zero Bytes were transmitted or received"
    r"|Problem talking to the database|Unable to connect to database|slurm_persist_conn_open|Connection refused"
    r"|Connection timed out|Transport endpoint is not connected",
    re.IGNORECASE,
)


def unreachable(result: CommandResult) -> bool:
    """A failed command that says the controller or the accounting daemon did not answer."""
    return result.exit_code != 0 and bool(_UNREACHABLE.search(result.stderr))


def _ok(command: Command, result: CommandResult) -> CommandResult:
    if result.exit_code != 0:
        raise CommandFailed(command.line, result.exit_code, result.stdout, result.stderr)
    return result


# sbatch's words when the account's queue is full: a reason to wait, not a failure of the request
_QUEUE_FULL = re.compile(r"MaxSubmitJob|GrpSubmitJob|job submit limit", re.IGNORECASE)
QUEUE_FULL_EXIT = 75  # EX_TEMPFAIL: the guard below found the queue full and did not call sbatch
LOCK_FILE = ".beampipe-submit.lock"  # in the login user's home: shared by every submitter of this account
# Under one lock per account (tasks on many workers cannot all see the last free slot and overshoot it together):
# count the user's queued jobs, all and of the group, and go on only if both are under their bounds; ask
# `sbatch --test-only` when the job would start (one line on stderr); then submit the same script.
# Arguments: clusters option (or empty), group, total bound, group bound (-1: none), then sbatch's argv.
_GUARD = """\
set -u
if [ "$3" -ge 0 ] || [ "$4" -ge 0 ]; then
  listing=$(squeue --me -h -r -o %k $1) || exit 1
  counts=$(printf '%s\\n' "$listing" | awk -v g="group=$2" \\
    'NF && !/^CLUSTER: / {n++; if ($NF == g) m++} END {print n+0, m+0}')
  n=${counts% *}; m=${counts#* }
  if [ "$3" -ge 0 ] && [ "$n" -ge "$3" ]; then echo "beampipe-queue-full: $n of $3 jobs queued" >&2; exit 75; fi
  if [ "$4" -ge 0 ] && [ "$m" -ge "$4" ]; then echo "beampipe-queue-full: $m of $4 jobs of $2 queued" >&2; exit 75; fi
fi
shift 4
script=$(cat; echo .); script=${script%.}
printf %s "$script" | TZ=UTC "$@" --test-only 2>&1 >/dev/null | tail -n 1 | sed 's/^/beampipe-estimate: /' >&2
printf %s "$script" | "$@"
"""
_ESTIMATE = re.compile(r"^beampipe-estimate: (.*)$", re.MULTILINE)
_START = re.compile(r"to start at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")


def _guarded(argv: list[str], guard: Bounds | None, clusters: str | None) -> list[str]:
    numbers = [str(-1 if n is None else n) for n in (guard.total, guard.group_total)] if guard else ["-1", "-1"]
    cluster_option = f"--clusters={clusters}" if clusters else ""
    group = guard.group if guard and guard.group else ""
    return ["flock", "-w", "120", LOCK_FILE, "sh", "-c", _GUARD, "sh", cluster_option, group, *numbers, *argv]


def submit(
    options: SbatchOptions, script: str, *, hold: bool = False, guard: Bounds | None = None, estimate: bool = False
) -> Generator[Command, CommandResult, SubmittedJob]:
    """sbatch. With `guard`, only if the account's queue is under its bounds at that moment (else QueueFull); with
    `estimate`, also when Slurm expects the job to start (`sbatch --test-only`, where the site answers)."""
    argv = sbatch_argv(options, hold=hold)
    if (guard is not None and not guard.unbounded) or estimate:
        argv = _guarded(argv, guard, options.clusters)
    command = Command(argv, stdin=script, submits=True)
    result = yield command
    if result.exit_code == QUEUE_FULL_EXIT and "beampipe-queue-full" in result.stderr and guard is not None:
        said = result.stderr.strip().removeprefix("beampipe-queue-full: ")
        why = f"its share of {guard.total}" if guard.group and f" of {guard.group} " in said else guard.why
        raise QueueFull(f"{said} ({why})")
    errors = _ESTIMATE.sub("", result.stderr)
    if result.exit_code != 0 and _QUEUE_FULL.search(errors):
        raise QueueFull("sbatch refused: " + errors.strip().splitlines()[0].removeprefix("sbatch: error: "))
    if result.exit_code != 0:
        raise SubmissionRefused(command.line, result.exit_code, result.stdout, result.stderr)
    submitted = parse_sbatch(result.stdout)
    start, note = _estimate(result.stderr)
    return SubmittedJob(
        submitted.job_id, submitted.cluster or options.clusters, estimated_start=start, estimate_note=note
    )


def _estimate(stderr: str) -> tuple[datetime | None, str]:
    """`--test-only`'s start time (UTC), or why there is none."""
    said = _ESTIMATE.search(stderr)
    if said is None:
        return None, ""
    found = _START.search(said[1])
    if found:
        return datetime.fromisoformat(found[1]).replace(tzinfo=UTC), said[1]
    return None, said[1] or "sbatch --test-only gave no answer"


def user_queue(*, clusters: str | None = None) -> Generator[Command, CommandResult, list[QueuedJob]]:
    """The login user's pending and running jobs, array tasks one by one."""
    command = Command(["squeue", "--me", "--noheader", "--array", "--format=%i|%j|%T|%k", *_clusters(clusters)])
    return parse_user_queue(_ok(command, (yield command)).stdout)


def squeue_command(job_ids: Sequence[str] = (), *, name: str | None = None, clusters: str | None = None) -> Command:
    argv = ["squeue", "--noheader", "--states=all", f"--format={SQUEUE_FORMAT}", *_clusters(clusters)]
    argv += [f"--jobs={','.join(_check_ids(job_ids))}"] if job_ids else []
    argv += [f"--name={name}"] if name else []
    return Command(_utc(argv))


def sacct_command(job_ids: Sequence[str] = (), *, name: str | None = None, clusters: str | None = None) -> Command:
    argv = ["sacct", "--parsable2", "--noheader", "--allocations", f"--format={SACCT_FIELDS}"]
    argv += [f"--starttime={LOOKBACK}", *_clusters(clusters)]
    argv += [f"--jobs={','.join(_check_ids(job_ids))}"] if job_ids else []
    argv += [f"--name={name}"] if name else []
    return Command(_utc(argv))


def _squeue_rows(command: Command, result: CommandResult) -> list[JobStatus]:
    if result.exit_code != 0 and SQUEUE_NO_SUCH_JOB in result.stderr:
        return []  # none of the ids is still held by slurmctld: ask accounting
    return parse_squeue(_ok(command, result).stdout)


def _group(rows: Sequence[JobStatus]) -> dict[str, list[JobStatus]]:
    grouped: dict[str, list[JobStatus]] = {}
    for row in rows:
        grouped.setdefault(base_job_id(row.job_id), []).append(row)
    return grouped


def status(
    job_ids: Sequence[str], *, clusters: str | None = None
) -> Generator[Command, CommandResult, dict[str, JobStatus]]:
    """The status of every job id asked for (arrays by their base id); UNKNOWN for jobs nobody knows."""
    ids = list(dict.fromkeys(_check_ids(job_ids)))
    live: dict[str, list[JobStatus]] = {}
    for start in range(0, len(ids), BATCH):
        command = squeue_command(ids[start : start + BATCH], clusters=clusters)
        live.update(_group(_squeue_rows(command, (yield command))))
    found = {job_id: s for job_id, rows in live.items() if (s := combine(job_id, rows))}
    ask = [i for i in ids if i not in found or found[i].phase.terminal]
    for start in range(0, len(ask), BATCH):
        command = sacct_command(ask[start : start + BATCH], clusters=clusters)
        for job_id, rows in _group(parse_sacct(_ok(command, (yield command)).stdout)).items():
            accounted = combine(job_id, rows)
            if accounted and _trust_accounting(accounted, rows, found.get(job_id), live.get(job_id, [])):
                found[job_id] = accounted
    return {i: found.get(i) or JobStatus(job_id=i, phase=Phase.UNKNOWN, state="NOT_FOUND") for i in ids}


def _trust_accounting(
    accounted: JobStatus, rows: Sequence[JobStatus], queued: JobStatus | None, queued_rows: Sequence[JobStatus]
) -> bool:
    """Accounting has exit codes, but lags slurmctld by seconds: right after a job ends sacct may still show a
    placeholder ("allocation", PENDING) or one row for a whole array. Take it when slurmctld no longer holds the
    job, or when both agree on the phase and on the set of array tasks."""
    if queued is None:
        return True
    return accounted.phase is queued.phase and {r.job_id for r in rows} == {r.job_id for r in queued_rows}


def find_by_name(name: str, *, clusters: str | None = None) -> Generator[Command, CommandResult, list[JobStatus]]:
    """Every job (live or accounted in the last 30 days) with exactly this name, oldest first."""
    command = squeue_command(name=name, clusters=clusters)
    live = _group(_squeue_rows(command, (yield command)))
    command = sacct_command(name=name, clusters=clusters)
    accounted = _group(parse_sacct(_ok(command, (yield command)).stdout))
    jobs: dict[str, JobStatus] = {}
    for job_id in {*live, *accounted}:
        in_accounting = combine(job_id, accounted.get(job_id, []))
        in_queue = combine(job_id, live.get(job_id, []))
        chosen = in_accounting if in_accounting and (in_accounting.phase.terminal or not in_queue) else in_queue
        if chosen and chosen.name == name:
            jobs[job_id] = chosen
    return [jobs[k] for k in sorted(jobs, key=int)]


def read_limits(*, clusters: str | None = None) -> Generator[Command, CommandResult, SiteLimits]:
    """The partitions, and the login user's association and QOS caps (sacctmgr needs the user's name)."""
    command = Command(["scontrol", *_clusters(clusters), "show", "partition", "--oneliner"])
    partitions = parse_partitions(_ok(command, (yield command)).stdout)
    command = Command(["id", "-un"])
    user = _ok(command, (yield command)).stdout.strip()
    where = [f"cluster={clusters}"] if clusters else []
    command = Command(
        [
            "sacctmgr",
            "-P",
            "-n",
            "show",
            "assoc",
            "where",
            f"user={user}",
            *where,
            "format=MaxSubmit,MaxJobs,MaxWall,QOS,GrpTRES,MaxTRES",
        ]
    )
    assoc = _ok(command, (yield command)).stdout
    command = Command(
        ["sacctmgr", "-P", "-n", "show", "qos", "format=Name,MaxSubmitPU,MaxJobsPU,MaxWall,GrpTRES,MaxTRES"]
    )
    qos = _ok(command, (yield command)).stdout
    return SiteLimits(partitions, parse_user_limits(assoc, qos))


def cancel(job_ids: Sequence[str], *, clusters: str | None = None) -> Generator[Command, CommandResult, None]:
    if not job_ids:
        return
    command = Command(["scancel", *_clusters(clusters), *_check_ids(job_ids)])
    _ok(command, (yield command))


def log_tail(path: str, lines: int = 50) -> Generator[Command, CommandResult, str]:
    """The last lines of a job's output file; empty if it does not exist (yet)."""
    command = Command(["tail", "-n", str(int(lines)), "--", path])
    result = yield command
    return result.stdout if result.exit_code == 0 else ""


def read_text(path: str) -> Generator[Command, CommandResult, str]:
    command = Command(["cat", "--", path])
    return _ok(command, (yield command)).stdout


def checksums(paths: Sequence[str]) -> Generator[Command, CommandResult, dict[str, str]]:
    """sha256 of files on the login node's filesystem, computed there (sha256sum), by path."""
    if not paths:
        return {}
    command = Command(["sha256sum", "--", *paths])
    result = yield command
    found = {}
    for line in result.stdout.splitlines():
        digest, _, path = line.partition("  ")
        found[path] = digest
    return found


def expand_path(path: str) -> Generator[Command, CommandResult, str]:
    """A path with shell variables ($HOME, $USER) as the login node's shell expands them. The path comes from a
    facility profile, which refuses quotes, backslashes and command substitution."""
    command = Command(["sh", "-c", f'printf %s "{path}"'])
    return _ok(command, (yield command)).stdout


DEFAULT_OUTPUT = "beampipe-%j.out"  # sbatch --output when the task names none


def job_log_path(options: SbatchOptions, job_id: str, user: str) -> str:
    """Where the job's output is on the login node: --output expanded, relative to --chdir."""
    path = expand_log_path(options.output or DEFAULT_OUTPUT, job_id, options.job_name, user)
    return posixpath.join(options.chdir, path) if options.chdir and not posixpath.isabs(path) else path


def expand_log_path(pattern: str, job_id: str, job_name: str, user: str) -> str:
    """Slurm's filename pattern for --output/--error, for the placeholders a single job can use."""
    base, _, task = job_id.partition("_")
    values = {"j": job_id, "J": job_id, "x": job_name, "u": user, "A": base, "a": task or "0", "%": "%"}
    return re.sub(r"%(%|[jJxuAa])", lambda m: values[m.group(1)], pattern)
