"""Names that become paths, reach commands or are stored: one rule for each, used by every caller.

`local_file_name` gives every staged file a local name from a strict alphabet, whatever the archive called it: the
archive's name is kept only as data. `path_component` checks a value (a run key, a job name, a survey, a source id)
that becomes one component of a path, before anything is written with it. `check_name` is the rule for the names a
run is stored under (workflow, version, scheduler, facility), for the survey YAML, the CLI and the ledger's callers,
so nothing with a newline, a quote or `$(...)` reaches the ledger, a job or a log line."""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_LOCAL_NAME = 200
_LOCAL = re.compile(r"[A-Za-z0-9._+\-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-]+")
# Letters, digits and + - _ . only, starting with a letter or digit, never `.`/`..`: safe in a path and a shell.
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,127}")
_RUN_KEY = re.compile(r"[0-9a-f]{64}")


class UnsafeName(ValueError):
    """A value that may not become a path component; the message names the field."""

    def __init__(self, field: str, value: object, why: str) -> None:
        super().__init__(f"{field} {str(value)[:200]!r}: {why}")
        self.field = field


def _is_local(name: str) -> bool:
    return (
        bool(_LOCAL.fullmatch(name))
        and name[0] not in ".-"
        and len(name) <= MAX_LOCAL_NAME
        and ".." not in name  # never a `..` anywhere, even where it could not be a path step
    )


def local_file_name(archive_name: str) -> str:
    """The local name of a file the archive calls `archive_name`: the name itself when it is already plain
    (`[A-Za-z0-9._+-]`, no leading dot or dash, at most 200 characters), else a readable sanitised stem plus the
    first 12 hex digits of the sha256 of the archive's name, keeping a plain suffix (`.ms.tar`). Deterministic, and
    two different archive names never share a local name (a changed name always carries its own hash)."""
    if _is_local(archive_name):
        return archive_name
    digest = hashlib.sha256(archive_name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    ascii_name = unicodedata.normalize("NFKD", archive_name).encode("ascii", "ignore").decode()
    base = ascii_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = base.partition(".")
    suffix = _UNSAFE.sub("", suffix)
    suffix = re.sub(r"\.{2,}", ".", suffix).strip(".")[:40]
    stem = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", stem)).strip("._-+")[:120] or "file"
    name = f"{stem}-{digest}" + (f".{suffix}" if dot and suffix else "")
    return name


def path_component(field: str, value: object, *, run_key: bool = False) -> str:
    """`value` as one path component, or UnsafeName naming `field`. With `run_key`, only a run key: 64 lower-case
    hex digits (a ledger run) or `bp-` plus 32 (a task instance's job-name hash)."""
    if not isinstance(value, str):
        raise UnsafeName(field, value, f"must be text, not {type(value).__name__}")
    if run_key:
        if _RUN_KEY.fullmatch(value) or re.fullmatch(r"bp-[0-9a-f]{32}", value):
            return value
        raise UnsafeName(field, value, "not a run key (64 hex digits, or bp- and 32 hex digits)")
    if not _COMPONENT.fullmatch(value) or ".." in value:
        raise UnsafeName(
            field, value, "not a plain name (letters, digits, . _ + -; starting with a letter or digit; at most 128)"
        )
    return value


_DIRECTORY = re.compile(r"[A-Za-z0-9._+\-]+")


def input_path(field: str, path: str) -> str:
    """A staged file's path as it reaches a workflow's commands: absolute or relative, every directory plain
    (letters, digits, . _ + -; never `.` or `..`) and the file's own name a local name (`local_file_name`'s rule)."""
    parts = path.split("/")
    *directories, name = parts[1:] if path.startswith("/") else parts
    for part in directories:
        if not _DIRECTORY.fullmatch(part) or part in {".", ".."}:
            raise UnsafeName(field, path, f"directory {part!r} is not a plain name")
    if not _is_local(name):
        raise UnsafeName(field, path, "the file name is not a local name ([A-Za-z0-9._+-], no leading dot or dash)")
    return path


WORKFLOW_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
WORKFLOW_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
# A facility is a built-in profile's name or a profile file (a path: letters, digits, _ . - and /).
FACILITY = r"^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}$"

RULES = {
    "workflow": WORKFLOW_NAME,
    "workflow version": WORKFLOW_VERSION,
    "scheduler": WORKFLOW_NAME,
    "facility": FACILITY,
}


def check_name(value: str, what: str) -> str:
    """`value` if it fits the rule for `what` (a key of RULES), else ValueError naming `what`."""
    pattern = RULES[what]
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{what} {value!r}: not allowed (allowed: {pattern})")
    return value
