"""sbatch options: validated one by one, rendered as an argv that `shlex.join` makes safe for a remote shell.

Validation refuses what Slurm itself would refuse or misread (a newline in a name, a comma in a job name that
`squeue --name` would split); quoting covers everything else, so no value can ever run as a command."""

from __future__ import annotations

import posixpath
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from beampipe_provider.scheduler.base import InvalidJobOption
from beampipe_provider.scheduler.slurm.long_options import FLAGS, OPTIONAL_VALUE, REFUSED, VALUED, unsafe_export

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")  # accounts, partitions, qos, reservations, job names
_NAMES = re.compile(r"^[A-Za-z0-9_.\-]{1,128}(,[A-Za-z0-9_.\-]{1,128})*$")  # comma lists (clusters, partitions)
_MEM = re.compile(r"^[0-9]{1,9}[KMGT]?$")
_TIME = re.compile(r"^([0-9]+|[0-9]+:[0-9]{1,2}|[0-9]+:[0-9]{1,2}:[0-9]{1,2}|[0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2})$")
_NODES = re.compile(r"^[0-9]{1,6}(-[0-9]{1,6})?$")
_ARRAY = re.compile(r"^[0-9]+(-[0-9]+(:[0-9]+)?)?(,[0-9]+(-[0-9]+(:[0-9]+)?)?)*(%[0-9]+)?$")
_DEPENDENCY = re.compile(r"^[a-z]+(:[0-9_+]+)*([,?][a-z]+(:[0-9_+]+)*)*$")
_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.\-&|*\[\]:()!]{1,256}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SINKS = frozenset({"/dev/null"})  # an absolute output/error that is never a place to write to

Count = Annotated[int, Field(ge=1, le=1_000_000)]


def _check(pattern: re.Pattern[str], value: str | None, what: str) -> str | None:
    if value is not None and not pattern.fullmatch(value):
        raise ValueError(f"not a valid {what}: {value!r}")
    return value


def _plain_text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if _CONTROL.search(value):
        raise ValueError("control characters (newline, tab, NUL) are not allowed")
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    return value


def format_time_limit(value: timedelta) -> str:
    """Slurm's days-hours:minutes:seconds, rounded up to whole seconds (Slurm itself rounds up to minutes)."""
    total = int(-(-value.total_seconds() // 1))
    if total <= 0:
        raise ValueError("a time limit must be positive")
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"


class SbatchOptions(BaseModel):
    """What a job asks Slurm for. `job_name` and `comment` carry the run key, so a retry finds its job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_name: str
    comment: str | None = None
    account: str | None = None
    partition: str | None = None
    clusters: str | None = None
    qos: str | None = None
    reservation: str | None = None
    constraint: str | None = None
    nodes: str | None = None
    ntasks: Count | None = None
    cpus_per_task: Count | None = None
    mem: str | None = None
    time: str | None = None
    array: str | None = None
    dependency: str | None = None
    output: str | None = None
    error: str | None = None
    chdir: str | None = None
    # Full sbatch long option names only (long_options): a value, or `true` for a flag (`--exclusive`).
    extra: dict[str, str | bool] = Field(default_factory=dict)

    @field_validator("job_name")
    @classmethod
    def _job_name(cls, v: str) -> str:
        return _check(_NAME, v, "job name (letters, digits, _ . -; at most 128)") or v

    @field_validator("account", "qos", "reservation")
    @classmethod
    def _names(cls, v: str | None) -> str | None:
        return _check(_NAME, v, "name (letters, digits, _ . -)")

    @field_validator("partition", "clusters")
    @classmethod
    def _name_lists(cls, v: str | None) -> str | None:
        return _check(_NAMES, v, "comma-separated list of names")

    @field_validator("constraint")
    @classmethod
    def _constraint(cls, v: str | None) -> str | None:
        return _check(_CONSTRAINT, v, "node feature expression")

    @field_validator("nodes", mode="before")
    @classmethod
    def _nodes(cls, v: Any) -> str | None:
        return _check(_NODES, None if v is None else str(v), "node count or min-max range")

    @field_validator("mem", mode="before")
    @classmethod
    def _mem(cls, v: Any) -> str | None:
        return _check(_MEM, None if v is None else str(v), "memory size (e.g. 4000, 16G)")

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, v: Any) -> str | None:
        if isinstance(v, timedelta):
            return format_time_limit(v)
        return _check(_TIME, None if v is None else str(v), "time limit (minutes, [d-]hh:mm:ss)")

    @field_validator("array")
    @classmethod
    def _array(cls, v: str | None) -> str | None:
        return _check(_ARRAY, v, "array index spec (e.g. 0-9, 1,3,5, 0-99%10)")

    @field_validator("dependency")
    @classmethod
    def _dependency(cls, v: str | None) -> str | None:
        return _check(_DEPENDENCY, v, "dependency (e.g. afterok:123:456)")

    @field_validator("comment")
    @classmethod
    def _comment(cls, v: str | None) -> str | None:
        return _plain_text(v, 1024)

    @field_validator("output", "error", "chdir")
    @classmethod
    def _path(cls, v: str | None, info: ValidationInfo) -> str | None:
        """Relative (to the job's directory) without `..`; absolute only under the directory the caller allows
        (validation context `within`, the run directory), or /dev/null for output and error."""
        if _plain_text(v, 4096) is None or v is None:
            return v
        if ".." in v.split("/"):
            raise ValueError(f"{v!r}: a path may not contain '..'")
        if not v.startswith("/"):
            return v
        if v in SINKS and info.field_name != "chdir":
            return v
        within = (info.context or {}).get("within")
        if within and posixpath.normpath(v).startswith(posixpath.normpath(within).rstrip("/") + "/"):
            return v
        if within and posixpath.normpath(v) == posixpath.normpath(within):
            return v
        raise ValueError(f"{v!r}: must be relative to the job's directory" + (f" or under {within}" if within else ""))

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: dict[str, str | bool]) -> dict[str, str | bool]:
        for key, value in v.items():
            if key in REFUSED:
                raise ValueError(f"--{key} is not allowed: it {REFUSED[key]}")
            if key.replace("-", "_") in cls.model_fields:
                raise ValueError(f"--{key} is set by its own field, not through extra")
            if key not in VALUED | FLAGS | OPTIONAL_VALUE:
                raise ValueError(f"{key!r} is not a full sbatch long option name beampipe passes on")
            if isinstance(value, bool):
                if key in VALUED:
                    raise ValueError(f"--{key} takes a value, not {value}")
                continue
            if key in FLAGS:
                raise ValueError(f"--{key} is a flag: give it true (or false to leave it out), not {value!r}")
            _plain_text(value, 1024)
            if key == "export" and (name := unsafe_export(value)):
                raise ValueError(f"--export may not set {name}: it changes what the job's loader or shell runs")
        return v


def sbatch_options(*, within: str | None = None, **values: Any) -> SbatchOptions:
    """Build options, turning a validation failure into an InvalidJobOption that names the option. `within`: the
    directory absolute output, error and chdir paths may point into (else they must be relative)."""
    try:
        return SbatchOptions.model_validate(values, context={"within": within})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "options"
        raise InvalidJobOption(field, first["msg"].removeprefix("Value error, ")) from None


def sbatch_argv(options: SbatchOptions, *, hold: bool = False, test_only: bool = False) -> list[str]:
    """`sbatch --parsable --opt=value ...`; the script goes on stdin. One token per option, so quoting is exact."""
    argv = ["sbatch", "--parsable"]
    if hold:
        argv.append("--hold")
    if test_only:
        argv.append("--test-only")
    for field in SbatchOptions.model_fields:
        if field == "extra":
            continue
        value = getattr(options, field)
        if value is not None:
            argv.append(f"--{field.replace('_', '-')}={value}")
    for key, value in sorted(options.extra.items()):
        if value is True:
            argv.append(f"--{key}")
        elif value is not False:
            argv.append(f"--{key}={value}")
    return argv
