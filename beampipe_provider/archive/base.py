"""What every archive adapter offers, and how one is found by name (entry point group `beampipe.archives`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from beampipe_provider.ledger.records import DatasetRecord

ENTRY_POINT_GROUP = "beampipe.archives"


@dataclass(frozen=True)
class StagedFile:
    """A product brought online: where to fetch it (exactly as the archive wrote it) and its checksum file."""

    href: str
    checksum_href: str | None


@dataclass(frozen=True)
class LocalFile:
    """A downloaded, verified product."""

    path: Path
    size: int
    sha256: str


class Archive(Protocol):
    """A data archive: find new products, bring them online, fetch them verified. Core code: no Airflow."""

    name: str

    def discover(self, *, since: datetime | None, until: datetime | None) -> list[DatasetRecord]: ...

    def stage(self, datasets: Sequence[DatasetRecord], *, timeout_s: float) -> Sequence[StagedFile]: ...

    def download(self, staged: StagedFile, directory: Path) -> LocalFile: ...


def load_archive(name: str, **config: Any) -> Archive:
    """The adapter registered under `name`, built with `config` (URLs, credentials, survey rules)."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in found:
        raise LookupError(f"no archive adapter {name!r}; installed: {', '.join(sorted(found)) or 'none'}")
    archive: Archive = found[name].load()(**config)
    return archive
