"""The JSON API against its own OpenAPI schema: schemathesis, on the real api-server of the UI tests.

Bounded (a few examples per operation, one worker, a time budget), authenticated with an editor's bearer token, with
every check that can apply here. Excluded: `positive_data_acceptance` (a schema-valid source ID need not be
registered: 404 is the right answer) and the stateful/auth-bypass checks that need resources a link could create or
a second user (`use_after_free`, `ensure_resource_availability`, `ignored_auth`, `object_level_authorization`;
login and permissions have their own tests in test_ui_plugin.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, AirflowEnv
from tests.e2e.ui_server import UiServer, seed_ledger

pytestmark = pytest.mark.integration

EXCLUDED = [
    "positive_data_acceptance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
]


@pytest.fixture(scope="module")
def server(airflow_env: AirflowEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    work = tmp_path_factory.mktemp("contract")
    seed_ledger(work / "ledger.db")
    server = UiServer(airflow_env, work, work / "ledger.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_api_keeps_its_openapi_contract(server: UiServer, tmp_path: Path) -> None:
    token = server.token("editor")
    command = [
        str(BIN / "st"),
        "run",
        f"{server.url}/beampipe/openapi.json",
        "--url",
        f"{server.url}/beampipe",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "15",
        "--seed",
        "1",
        "--workers",
        "1",
        "--max-time",
        "90",
        "--request-timeout",
        "20",
        "--report-dir",
        str(tmp_path),
        "--output-truncate",
        "true",
    ]
    # In tmp_path: schemathesis and hypothesis keep their caches (.schemathesis, .hypothesis) in the working directory.
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-12_000:] + done.stderr[-2000:]
