"""A real `airflow api-server` with SimpleAuthManager users and a seeded ledger, for the UI plugin's tests."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.states import RunState as S
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import ProvenanceLedger
from tests.e2e.conftest import BIN, AirflowEnv

USERS = {"viewer": "viewer", "editor": "user", "admin": "admin"}  # user name -> SimpleAuthManager role
STAGE_ACTOR = "wallaby_hires/manual__2026-03-01T10:00:00+00:00/stage/3"  # a mapped task instance
SUBMIT_ACTOR = "wallaby_hires/manual__2026-03-01T10:00:00+00:00/process/3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Seeded:
    """What the seeded ledger holds: one finished, signed run (task-made transitions) and one planned run."""

    done: str = ""
    planned: str = ""
    sources: list[str] = field(default_factory=list)


def seed_ledger(path: Path) -> Seeded:
    engine = create_ledger_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    clock = Clock()
    store = LedgerStore(engine, clock=clock)
    seeded = Seeded(sources=["HIPASSJ1318-21", "HIPASSJ1303+07"])
    records = [SourceRecord(source_id=s, metadata={"vsys_kms": 1500.0}) for s in seeded.sources]
    store.register_sources("WALLABY", records)
    datasets = [
        DatasetRecord(
            dataset_id=f"visibility-{sbid}-{source}",
            survey="WALLABY",
            source_id=source,
            sbid=sbid,
            filename=f"{source}_A_beam26_10arc_split.ms.tar",
            size=1_000_000 + sbid,
        )
        for source in seeded.sources
        for sbid in (33521, 33522)
    ]
    store.record_datasets(datasets)
    store.plan_runs(
        "WALLABY", [d.dataset_id for d in datasets], workflow="wallaby-hires", workflow_version="1.0", actor="planner"
    )
    by_source = {r.source_id: r.run_key for r in store.list_runs("WALLABY").items}
    seeded.done, seeded.planned = by_source["HIPASSJ1318-21"], by_source["HIPASSJ1303+07"]
    _run_to_success(store, clock, seeded.done)
    ProvenanceLedger(engine, clock=clock).append(
        "WALLABY",
        seeded.done,
        lambda previous: {"run": {"run_key": seeded.done, "survey": "WALLABY"}, "previous": previous},
        Ed25519PrivateKey.generate(),
    )
    engine.dispose()
    return seeded


def _run_to_success(store: LedgerStore, clock: Clock, run_key: str) -> None:
    clock.advance(minutes=1)
    store.claim_runs(STAGE_ACTOR, ttl=timedelta(hours=2), run_keys=[run_key])
    clock.advance(minutes=4)
    store.transition(run_key, expected=S.CLAIMED, to=S.STAGED, actor=STAGE_ACTOR, detail={"files": 2})
    clock.advance(seconds=30)
    store.transition(
        run_key, expected=S.STAGED, to=S.SUBMITTED, actor=SUBMIT_ACTOR, scheduler="slurm", scheduler_job_id="4242"
    )
    clock.advance(minutes=2)
    store.transition(run_key, expected=S.SUBMITTED, to=S.RUNNING, actor=SUBMIT_ACTOR)
    clock.advance(hours=1, minutes=27, seconds=5)
    store.transition(run_key, expected=S.RUNNING, to=S.SUCCEEDED, actor=SUBMIT_ACTOR, detail={"exit_code": 0})


class UiServer:
    """`airflow api-server` on a free port of 127.0.0.1, its output in a log file."""

    def __init__(self, airflow_env: AirflowEnv, workdir: Path, ledger: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "api-server.log"
        self.passwords = {user: secrets.token_urlsafe(12) for user in USERS}
        passwords_file = workdir / "passwords.json"
        passwords_file.write_text(json.dumps(self.passwords))
        connection = {"conn_type": "beampipe_ledger", "schema": str(ledger), "extra": {"dialect": "sqlite"}}
        self.env = airflow_env.env | {
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
            "SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT": json.dumps(connection),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"api-server exited {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"api-server not up after {timeout_s} s:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def token(self, user: str) -> str:
        """A JWT from the real login endpoint, as `POST /auth/token` hands it to API clients."""
        answer = httpx.post(
            f"{self.url}/auth/token", json={"username": user, "password": self.passwords[user]}, timeout=10
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["access_token"])
