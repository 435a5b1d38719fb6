from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.store import LedgerStore
from tests.casda_emulator import RunningEmulator, casda_emulator
from tests.databases import fresh_database
from tests.slurm_cluster import LocalSlurm, local_slurm

# Airflow (imported by hook tests) and the embedded-ledger default read $AIRFLOW_HOME: never the user's own.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="beampipe-test-airflow-")

DIALECTS = ["sqlite", "postgresql"]


class FakeClock:
    """Time that moves only when the test says so: claim expiry without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(params=DIALECTS)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each dialect (a fresh PostgreSQL database per test)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(ledger_url: str) -> Iterator[Engine]:
    engine = create_ledger_engine(ledger_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(engine: Engine, clock: FakeClock) -> LedgerStore:
    return LedgerStore(engine, clock=clock)


@pytest.fixture
def casda() -> Iterator[RunningEmulator]:
    """A fresh CASDA emulator process seeded with WALLABY deposits (6 scheduling blocks)."""
    with casda_emulator("--seed", "wallaby") as emulator:
        yield emulator


@pytest.fixture(scope="session")
def slurm() -> LocalSlurm:
    """The real local Slurm cluster behind sshd on 127.0.0.1 (started by scripts/local-slurm if not running)."""
    return local_slurm()
