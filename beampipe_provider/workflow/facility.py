"""Facility profiles: where and how a workflow engine runs on a site, as YAML validated by pydantic.

Profiles ship for `setonix` (Pawsey) and `local` (scripts/local-slurm); a site adds its own YAML file without
code. A bad profile fails with the file, the field and the reason."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from beampipe_provider.common.yaml_models import parse_yaml_model
from beampipe_provider.scheduler.slurm.options import SbatchOptions

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")
_ROOT = re.compile(r"^(/|\$HOME\b)[A-Za-z0-9_./${}-]*$")  # shell variables expand; nothing else a shell reads
_COMMAND = re.compile(r"^[A-Za-z0-9_./+-]{1,255}$")  # a command name or path, nothing a shell would interpret
_SHELL_LINE = re.compile(r"^[^\x00-\x08\x0a-\x1f\x7f]*$")  # one line, no control characters


class FacilityError(ValueError):
    """A profile that cannot be used; names the source, the field and the reason."""


class Ports(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node_manager: int = Field(8000, ge=1024, le=65535)
    island_manager: int = Field(8001, ge=1024, le=65535)


class EngineSetup(BaseModel):
    """How a job on the site sets up one engine other than DALiuGE (whose lines are `Facility.setup`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setup: list[str] = Field(default_factory=list)  # shell lines before the runner, e.g. a venv's activation
    executable: str | None = None  # the engine's command, e.g. cwltool or a path to it; None: the engine's default

    @field_validator("setup")
    @classmethod
    def _lines(cls, v: list[str]) -> list[str]:
        return _shell_lines(v)

    @field_validator("executable")
    @classmethod
    def _executable(cls, v: str | None) -> str | None:
        if v is not None and (not v or not _SHELL_LINE.fullmatch(v) or v != v.strip()):
            raise ValueError(f"a command name or path, one line, without control characters: {v!r}")
        return v


def check_sbatch(value: dict[str, Any]) -> dict[str, Any]:
    """Default sbatch options (a profile's, a survey's): the same validation every job's options get."""
    if "job_name" in value or not all(isinstance(k, str) for k in value):
        raise ValueError("option names are strings; job_name is set per run")
    SbatchOptions(job_name="check", **value)  # its ValidationError names each option (sbatch.partition: ...)
    return value


def _shell_lines(lines: list[str]) -> list[str]:
    for line in lines:
        if not _SHELL_LINE.fullmatch(line):
            raise ValueError(f"one line each, without control characters: {line!r}")
    return lines


class Facility(BaseModel):
    """A site: the Slurm defaults for its jobs, how a job sets up each engine, and where runs live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    login_host: str
    sbatch: dict[str, Any] = Field(default_factory=dict)  # defaults under each job's own options
    # At most this many of the account's jobs queued at once (pending + running), under the site's own limits:
    # a site's etiquette for shared login nodes, e.g. "keep your queue under 100".
    max_queued: int | None = Field(None, ge=1)
    modules: list[str] = Field(default_factory=list)  # `module load` before anything else
    setup: list[str] = Field(default_factory=list)  # shell lines that make `python3 -m dlg` work (venv, env vars)
    python: str = "python3"
    dlg_root: str  # per-run directories live in {dlg_root}/runs/{run_key}; shell variables such as $USER expand
    ports: Ports = Field(default_factory=Ports)
    container_runtime: str | None = None  # e.g. singularity
    images: dict[str, str] = Field(default_factory=dict)  # name -> image file or registry reference
    session_url: str | None = None  # a web monitor of a session, e.g. https://{host}/dlg/session?sessionId={session_id}
    engines: dict[str, EngineSetup] = Field(default_factory=dict)  # engine name (cwl) -> its setup on this site

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError("lower-case letters, digits, - and _, starting with a letter")
        return v

    @field_validator("sbatch")
    @classmethod
    def _sbatch(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_sbatch(v)

    @field_validator("login_host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not _HOST.fullmatch(v):
            raise ValueError(f"a host name (letters, digits, . and -): {v[:80]!r}")
        return v

    @field_validator("python", "container_runtime")
    @classmethod
    def _command(cls, v: str | None) -> str | None:
        if v is not None and not _COMMAND.fullmatch(v):
            raise ValueError(f"a command name or path (letters, digits, _ . / + -): {v[:80]!r}")
        return v

    @field_validator("modules", "setup")
    @classmethod
    def _lines(cls, v: list[str]) -> list[str]:
        return _shell_lines(v)

    @field_validator("engines")
    @classmethod
    def _engines(cls, v: dict[str, EngineSetup]) -> dict[str, EngineSetup]:
        for name in v:
            if not _NAME.fullmatch(name):
                raise ValueError(f"engine {name!r}: lower-case letters, digits, - and _, starting with a letter")
        return v

    def engine(self, name: str) -> EngineSetup:
        """The site's setup of engine `name`; nothing to set up when the profile does not say."""
        return self.engines.get(name, EngineSetup())

    @field_validator("dlg_root")
    @classmethod
    def _root(cls, v: str) -> str:
        if not _ROOT.fullmatch(v) or "$(" in v:
            raise ValueError("an absolute path (shell variables allowed, e.g. /scratch/$PAWSEY_PROJECT/$USER/dlg)")
        return v.rstrip("/")


def builtin_facilities() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in files(__package__).joinpath("facilities").iterdir()
        if p.name.endswith(".yaml")
    )


def load_facility(name_or_path: str | Path) -> Facility:
    """A built-in profile by name (`setonix`, `local`) or a YAML file of one's own."""
    path = Path(name_or_path)
    if not path.suffix:
        resource = files(__package__).joinpath("facilities", f"{name_or_path}.yaml")
        if not resource.is_file():
            raise FacilityError(f"no facility {name_or_path!r}; built in: {', '.join(builtin_facilities())}")
        return parse_facility(resource.read_text(), source=f"facility {name_or_path}")
    try:
        text = path.read_text()
    except OSError as exc:
        raise FacilityError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_facility(text, source=str(path))


def parse_facility(text: str, *, source: str) -> Facility:
    return parse_yaml_model(text, Facility, source=source, error=FacilityError)
