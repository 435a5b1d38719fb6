"""What every archive adapter offers, and how one is found by name (entry point group `beampipe.archives`).

An adapter discovers deposits (sync for tasks, async for triggers), negotiates staging (what to fetch: URLs exactly
as the archive wrote them, checksum references, sizes, local names) separately from fetching, and fetches one item
verified. Negotiation needs the archive's credentials and stays on the worker; a fetch needs none (links are
pre-signed) and may run wherever the data should land. Core code: no Airflow here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from beampipe_provider.ledger.records import DatasetRecord

ENTRY_POINT_GROUP = "beampipe.archives"


@dataclass(frozen=True)
class ConnectionFields:
    """An Airflow connection's fields, as plain data (core code never sees Airflow's Connection)."""

    host: str | None = None
    login: str | None = None
    password: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print the password
        return f"ConnectionFields(host={self.host!r}, login={self.login!r})"


@dataclass(frozen=True)
class Deposit:
    """One deposit event of the archive and the products it brought. `key` is unique and sorts by time."""

    key: str
    event_type: str
    event_date: str  # ISO 8601, UTC
    sbid: int | None = None  # ASKAP's scheduling block, where the archive has one
    block: str = ""  # the archive's own grouping of the products (CASDA: the SBID; ObsCore: obs_id)
    dataset_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Discovery:
    deposits: list[Deposit] = field(default_factory=list)
    datasets: list[DatasetRecord] = field(default_factory=list)
    # The newest event seen: the next poll starts at it minus the overlap window.
    watermark: datetime | None = None
    queries: int = 0

    def ready(self, *, min_sources: int, now: datetime, ready_at: datetime | None) -> bool:
        """Enough to start a batch: deposits of `min_sources` sources, or any (even none) once `ready_at` passed.
        Batching a few sources per run of the DAG keeps Slurm's queue and the facility's overheads down."""
        if ready_at is not None and now >= ready_at:
            return True
        sources = {d.source_id for d in self.datasets if d.source_id}
        return bool(self.datasets) and len(sources) >= min_sources


class Verification(StrEnum):
    """How a fetched file is checked: against the archive's checksum, or only its size (recorded as such)."""

    CHECKSUM = "checksum"
    SIZE = "size"
    NONE = "none"


@dataclass(frozen=True)
class FetchItem:
    """One product to fetch: `url` exactly as the archive wrote it (pre-signed URLs intact), where its checksum is,
    its expected size, and the local name it gets (`common.names.local_file_name`: never the archive's name used as
    a path or in a command). `archive_name` is the archive's own name for the file, kept as data only."""

    dataset_id: str
    url: str
    local_name: str
    archive_name: str | None = None
    checksum_url: str | None = None
    checksum: str | None = None  # an expected checksum given inline ("crc32 sha1 size" hex, or md5)
    size: int | None = None
    verification: Verification = Verification.CHECKSUM

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "url": self.url,
            "local_name": self.local_name,
            "archive_name": self.archive_name,
            "checksum_url": self.checksum_url,
            "checksum": self.checksum,
            "size": self.size,
            "verification": self.verification.value,
        }


@dataclass(frozen=True)
class StagingPlan:
    """What to fetch for one run, as the archive's staging negotiation answered."""

    items: list[FetchItem]
    job: str | None = None  # the archive's staging job, for the log


@dataclass(frozen=True)
class LocalFile:
    """A fetched, verified product."""

    path: Path
    size: int
    sha256: str
    dataset_id: str | None = None
    verification: Verification = Verification.CHECKSUM


class Archive(Protocol):
    """A data archive. `Rules` validates a survey's rules for it (the survey YAML's `archive` block)."""

    name: str
    Rules: ClassVar[type[BaseModel]]

    def discover(self, *, since: datetime | None, until: datetime | None) -> Discovery: ...

    async def adiscover(self, *, since: datetime | None, until: datetime | None) -> Discovery: ...

    def plan_staging(self, datasets: Sequence[DatasetRecord], *, timeout_s: float) -> StagingPlan: ...

    def fetch(self, item: FetchItem, directory: Path) -> LocalFile: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


def archive_class(name: str) -> Any:
    """The adapter class registered under `name`."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in found:
        raise LookupError(f"no archive adapter {name!r}; installed: {', '.join(sorted(found)) or 'none'}")
    return found[name].load()


def load_archive(
    name: str, *, rules: Mapping[str, Any] | None = None, connection: ConnectionFields | None = None
) -> Archive:
    """The adapter registered under `name`, for a survey's `rules` (none: staging only), with the connection's
    endpoints and credentials (None: the archive's public defaults, no credentials)."""
    archive: Archive = archive_class(name)(rules=rules, connection=connection or ConnectionFields())
    return archive
