from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import fresh_postgres
from tests.e2e.survey import staging, survey_dags  # noqa: F401 (fixtures of the survey DAG tests)

DAGS = Path(__file__).with_name("dags")
BIN = Path(sys.executable).parent


class AirflowEnv:
    """A real Airflow home (SQLite metadata DB, migrated once) and a way to run its CLI."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = os.environ | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, env=self.env | (env or {}), capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def airflow(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "airflow"), *args, check=check, env=env)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    env = AirflowEnv(tmp_path_factory.mktemp("airflow_home"))
    env.airflow("db", "migrate")
    return env


@pytest.fixture
def inputs() -> Iterator[list[Path]]:
    """Three small visibility tarballs the job's user can read (pytest's tmp_path is private to root)."""
    directory = Path("/tmp", f"beampipe-e2e-{uuid.uuid4().hex[:8]}")
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    paths = []
    for beam in range(3):
        member = directory / f"beam{beam}.txt"
        member.write_text(f"visibilities of beam {beam}\n" * (beam + 1))
        path = directory / f"HIPASSJ1318-21_A_beam{beam:02d}_10arc_split.ms.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(member, arcname=member.name)
        path.chmod(0o644)
        paths.append(path)
    yield paths
    shutil.rmtree(directory)


@pytest.fixture
def pg_ledger() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url
