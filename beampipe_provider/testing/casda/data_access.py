"""The emulator's data side: DataLink tokens, SODA async (UWS) jobs, and small real files with .checksum companions."""

from __future__ import annotations

import hashlib
import threading
import uuid
import zlib
from dataclasses import dataclass, field

# UWS phases a polling client must wait through, in the order a job walks them.
WALK = ("QUEUED", "EXECUTING", "COMPLETED")


@dataclass
class Job:
    id: str
    dids: list[str]
    phase: str = "PENDING"
    error: str | None = None
    stuck: bool = False  # fault: stays SUSPENDED
    fails: bool = False  # fault: ends in ERROR


@dataclass
class DataAccess:
    secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    jobs: dict[str, Job] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def token_for(self, did: str) -> str:
        token = hashlib.sha256(f"{self.secret}:{did}".encode()).hexdigest()[:40]
        with self._lock:
            self._tokens[token] = did
        return token

    def create_job(self, tokens: list[str]) -> Job:
        with self._lock:
            unknown = [t for t in tokens if t not in self._tokens]
            if unknown or not tokens:
                raise ValueError(f"invalid authenticated ID token(s): {unknown or 'none given'}")
            job = Job(id=uuid.uuid4().hex, dids=[self._tokens[t] for t in tokens])
            self.jobs[job.id] = job
        return job

    def add_job(self, dids: list[str]) -> Job:
        """A job for products named directly (the ObsCore mount's SODA takes IDs, not tokens)."""
        job = Job(id=uuid.uuid4().hex, dids=list(dids))
        with self._lock:
            self.jobs[job.id] = job
        return job

    def run(self, job: Job, *, stuck: bool, fails: bool) -> None:
        with self._lock:
            if job.phase == "PENDING":
                job.phase, job.stuck, job.fails = "QUEUED", stuck, fails

    def observe(self, job: Job) -> str:
        """Each status read moves a running job one phase on, as a real staging queue does over minutes."""
        with self._lock:
            if job.phase in WALK[:-1]:
                if job.stuck and job.phase == "EXECUTING":
                    job.phase = "SUSPENDED"
                elif job.fails and job.phase == "EXECUTING":
                    job.phase, job.error = "ERROR", "Staging failed: tape library unavailable (injected fault)"
                else:
                    job.phase = WALK[WALK.index(job.phase) + 1]
            return job.phase


def content(did: str) -> bytes:
    """A small real file per product (64-68 KiB), the same bytes every time."""
    block = hashlib.sha256(did.encode()).digest()
    size = 65_536 + zlib.crc32(did.encode()) % 4096
    return (block * (size // len(block) + 1))[:size]


def checksum_text(data: bytes) -> str:
    """CASDA's .checksum format: crc32, sha1 and size, in hex."""
    return f"{zlib.crc32(data):x} {hashlib.sha1(data).hexdigest()} {len(data):x}"  # noqa: S324 (CASDA's format)
