"""What a Slurm site allows, read from its own text output, and whether a request fits: pure functions.

Partitions come from `scontrol show partition -o` (one `Key=Value ...` line each, the same in 22.05 and 24.x);
a user's caps from `sacctmgr -P -n show assoc` and `show qos` (`|`-separated); the user's queue from
`squeue --me -h -r -o %i|%j|%T|%k`. A request that a partition cannot grant is refused before sbatch, naming the
limit and the partition, instead of becoming a job that never starts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import timedelta

from beampipe_provider.scheduler.admission import Caps, QueuedJob, group_of
from beampipe_provider.scheduler.base import RequestRefused, SchedulerError
from beampipe_provider.scheduler.slurm.options import SbatchOptions

UNLIMITED = frozenset({"", "UNLIMITED", "NONE", "INFINITE", "N/A"})
_TIME = re.compile(r"^(?:(?P<d>\d+)-)?(?P<rest>\d+(?::\d+){0,2})$")
_MEM = re.compile(r"^(?P<n>\d+)(?P<unit>[KMGT]?)B?$", re.IGNORECASE)
_MEM_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


def parse_duration(value: str) -> timedelta | None:
    """Slurm's time formats (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS); None for UNLIMITED/NONE."""
    value = value.strip()
    if value.upper() in UNLIMITED:
        return None
    match = _TIME.fullmatch(value)
    if not match:
        raise ValueError(f"not a Slurm time: {value!r}")
    parts = [int(p) for p in match["rest"].split(":")]
    if match["d"] is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = ([*parts, 0, 0])[:3]
        return timedelta(days=int(match["d"]), hours=hours, minutes=minutes, seconds=seconds)
    if len(parts) == 1:
        return timedelta(minutes=parts[0])
    if len(parts) == 2:
        return timedelta(minutes=parts[0], seconds=parts[1])
    return timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


def parse_memory_mb(value: str) -> int | None:
    """'2G', '1500M', '4096' (MB) -> MB; None for UNLIMITED."""
    value = value.strip()
    if value.upper() in UNLIMITED:
        return None
    match = _MEM.fullmatch(value)
    if not match:
        raise ValueError(f"not a Slurm memory size: {value!r}")
    return int(int(match["n"]) * _MEM_MB[match["unit"].upper()])


def _count(value: str) -> int | None:
    value = value.strip()
    return None if value.upper() in UNLIMITED else int(value)


@dataclass(frozen=True)
class Partition:
    name: str
    state: str
    default: bool
    max_time: timedelta | None
    max_nodes: int | None
    max_mem_per_node_mb: int | None
    max_mem_per_cpu_mb: int | None
    total_nodes: int | None


def parse_partitions(text: str) -> dict[str, Partition]:
    """`scontrol show partition -o`; a `CLUSTER: name` header line (multi-cluster sites) is skipped."""
    partitions = {}
    for line in text.splitlines():
        if not line.startswith("PartitionName="):
            continue
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        try:
            partition = Partition(
                name=fields["PartitionName"],
                state=fields.get("State", "UP"),
                default=fields.get("Default") == "YES",
                max_time=parse_duration(fields.get("MaxTime", "UNLIMITED")),
                max_nodes=_count(fields.get("MaxNodes", "UNLIMITED")),
                max_mem_per_node_mb=parse_memory_mb(fields.get("MaxMemPerNode", "UNLIMITED")),
                max_mem_per_cpu_mb=parse_memory_mb(fields.get("MaxMemPerCPU", "UNLIMITED")),
                total_nodes=_count(fields.get("TotalNodes", "UNLIMITED")),
            )
        except (KeyError, ValueError) as exc:
            raise SchedulerError(f"unreadable scontrol partition line ({exc}): {line[:200]}") from None
        partitions[partition.name] = partition
    return partitions


@dataclass(frozen=True)
class UserLimits:
    """The tightest of the association's and its QOS's per-user caps; None is no cap."""

    max_submit: int | None = None
    max_jobs: int | None = None
    max_wall: timedelta | None = None
    # the most one job can ever be given of a TRES (cpu, node, mem in MB): the tighter of GrpTRES (the whole
    # association's) and MaxTRES (per job); a job asking for more pends for ever
    max_tres: dict[str, int] = field(default_factory=dict)

    @property
    def caps(self) -> Caps:
        return Caps(self.max_submit, self.max_jobs)


def _tightest(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def parse_tres(text: str) -> dict[str, int]:
    """`cpu=256,mem=500G,node=2` (memory in MB); TRES with a type (`gres/gpu:a100=2`) are kept by their full name."""
    tres = {}
    for item in filter(None, text.strip().split(",")):
        name, _, value = item.partition("=")
        tres[name] = parse_memory_mb(value) if name == "mem" else int(value)
    return {k: v for k, v in tres.items() if v is not None}


@dataclass
class _Caps:
    submits: list[int | None] = field(default_factory=list)
    runnings: list[int | None] = field(default_factory=list)
    walls: list[timedelta] = field(default_factory=list)
    tres: dict[str, int] = field(default_factory=dict)

    def add(self, submit: str, running: str, wall: str, *tres_texts: str) -> None:
        self.submits.append(_count(submit))
        self.runnings.append(_count(running))
        if (duration := parse_duration(wall)) is not None:
            self.walls.append(duration)
        for text in tres_texts:
            for name, value in parse_tres(text).items():
                self.tres[name] = min(value, self.tres.get(name, value))


def _fields(line: str, count: int) -> list[str]:
    return ([*line.split("|"), *[""] * count])[:count]


def parse_user_limits(assoc: str, qos: str) -> UserLimits:
    """assoc: `sacctmgr -P -n show assoc where user=U format=MaxSubmit,MaxJobs,MaxWall,QOS,GrpTRES,MaxTRES`;
    qos: `sacctmgr -P -n show qos format=Name,MaxSubmitPU,MaxJobsPU,MaxWall,GrpTRES,MaxTRES`."""
    by_qos = {}
    for line in filter(str.strip, qos.splitlines()):
        name, *rest = _fields(line, 6)
        by_qos[name] = rest
    caps = _Caps()
    for line in filter(str.strip, assoc.splitlines()):
        submit, running, wall, qos_names, grp_tres, max_tres = _fields(line, 6)
        caps.add(submit, running, wall, grp_tres, max_tres)
        for name in filter(None, qos_names.split(",")):
            if name in by_qos:
                caps.add(*by_qos[name])
    max_wall = min(caps.walls) if caps.walls else None
    return UserLimits(_tightest(*caps.submits), _tightest(*caps.runnings), max_wall, caps.tres)


def parse_user_queue(text: str) -> list[QueuedJob]:
    """`squeue --me -h -r -o %i|%j|%T|%k`: the user's jobs, array tasks one by one (as MaxSubmitJobs counts them).
    The comment is last, so a `|` inside it cannot shift the other fields; `CLUSTER:` header lines are skipped."""
    jobs = []
    for line in text.splitlines():
        fields = line.strip().split("|", 3)
        if len(fields) == 4:
            job_id, name, state, comment = fields
            jobs.append(QueuedJob(job_id, name, state, group_of(comment)))
    return jobs


@dataclass(frozen=True)
class SiteLimits:
    partitions: dict[str, Partition]
    user: UserLimits


def _request_nodes(nodes: str | None) -> int:
    """The least number of nodes a request can run on ('2', '2-4')."""
    return int(nodes.split("-")[0]) if nodes else 1


def request_problems(options: SbatchOptions, partitions: dict[str, Partition], user: UserLimits) -> list[str]:
    """Why the partition (named, or the default) cannot grant this request; empty if it can."""
    name = options.partition or next((p.name for p in partitions.values() if p.default), None)
    if name is None:
        return ["no partition named and the cluster has no default partition"]
    if "," in name:  # several candidates: choose_partition checks them one by one
        return []
    partition = partitions.get(name)
    if partition is None:
        return [f"partition {name!r} does not exist (the cluster has {', '.join(sorted(partitions))})"]
    problems = []
    if not partition.state.startswith("UP"):
        problems.append(f"partition {name} is {partition.state}")
    time = parse_duration(options.time) if options.time else None
    if time is not None and partition.max_time is not None and time > partition.max_time:
        problems.append(f"time {options.time} exceeds partition {name}'s MaxTime {_hms(partition.max_time)}")
    if time is not None and user.max_wall is not None and time > user.max_wall:
        problems.append(f"time {options.time} exceeds the association's MaxWall {_hms(user.max_wall)}")
    nodes = _request_nodes(options.nodes)
    for limit, what in ((partition.max_nodes, "MaxNodes"), (partition.total_nodes, "TotalNodes")):
        if limit is not None and nodes > limit:
            problems.append(f"nodes {options.nodes} exceeds partition {name}'s {what} {limit}")
    mem = parse_memory_mb(options.mem) if options.mem else None
    if mem is not None and partition.max_mem_per_node_mb is not None and mem > partition.max_mem_per_node_mb:
        problems.append(f"mem {options.mem} exceeds partition {name}'s MaxMemPerNode {partition.max_mem_per_node_mb}M")
    return problems + _tres_problems(options, nodes, mem, user)


def _tres_problems(options: SbatchOptions, nodes: int, mem: int | None, user: UserLimits) -> list[str]:
    cpus = (options.ntasks or 1) * (options.cpus_per_task or 1)
    asked = {"node": nodes, "cpu": cpus, "mem": (mem or 0) * nodes}
    return [
        f"{what} {asked[what]} exceeds the association's TRES limit {what}={user.max_tres[what]}"
        for what in ("node", "cpu", "mem")
        if what in user.max_tres and asked[what] > user.max_tres[what]
    ]


def choose_partition(options: SbatchOptions, limits: SiteLimits) -> tuple[str | None, list[str]]:
    """The first of the request's candidate partitions (`work,debug`: in order of preference) that can grant it,
    or None and every candidate's reasons."""
    reasons: list[str] = []
    for candidate in (options.partition or "").split(","):
        problems = request_problems(options.model_copy(update={"partition": candidate}), limits.partitions, limits.user)
        if not problems:
            return candidate, []
        reasons += problems
    return None, reasons


def _hms(value: timedelta) -> str:
    total = int(value.total_seconds())
    days, rest = divmod(total, 86_400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def admit(options: SbatchOptions, limits: SiteLimits) -> SbatchOptions:
    """The request as it will be submitted, or RequestRefused naming every limit it breaks. Several candidate
    partitions (`debug,work`) are tried in order of preference: the job goes to the first that can take it."""
    if options.partition and "," in options.partition:
        chosen, problems = choose_partition(options, limits)
        if chosen:
            return options.model_copy(update={"partition": chosen})
    else:
        problems = request_problems(options, limits.partitions, limits.user)
    if problems:
        raise RequestRefused("Slurm would not run this request: " + "; ".join(problems))
    return options


_LIMITS: dict[Hashable, tuple[float, SiteLimits]] = {}


def cached_limits(key: Hashable, ttl: float, read: Callable[[], SiteLimits]) -> SiteLimits:
    """The site's limits, read at most every `ttl` s per key (login node and cluster): partitions and associations
    change rarely, and a changed limit is seen within `ttl`."""
    cached = _LIMITS.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    limits = read()
    _LIMITS[key] = (time.monotonic() + ttl, limits)
    return limits
