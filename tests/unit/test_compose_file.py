"""docker-compose.airflow.yml: valid against the Compose Specification, and the deployment a user relies on.

Docker cannot run here, so the file is checked the way `docker compose` reads it: interpolate `${...}` in the
parsed values, then validate against the Compose Specification JSON schema (vendored: tests/data/compose-spec.*).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

from beampipe_provider.ledger.engine import ledger_url_from_connection

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.airflow.yml"
DATA = ROOT / "tests" / "data"

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}
SERVICES = AIRFLOW_SERVICES | {"postgres", "redis"}

# What a user's .env holds for the variables that have no default.
SAMPLE_ENV = {"AIRFLOW_CONN_SLURM_DEFAULT": json.dumps({"conn_type": "ssh", "host": "login.example.org"})}

# Compose interpolation: `$$` escapes; `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`,
# `${NAME?error}`; a bare `$NAME` is legal Compose but this file always braces (so the checks below see it).
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_{]))"
)


class MissingVariable(ValueError):
    pass


def _substitute(match: re.Match[str], env: dict[str, str]) -> str:
    if match["escaped"]:
        return "$"
    if match["bare"]:
        raise ValueError(f"unbraced or malformed variable at {match.string[match.start() :]!r}")
    name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
    value = env.get(name)
    missing = value is None or (op.startswith(":") and value == "")
    if op.endswith("-"):
        return arg if missing else str(value)
    if op.endswith("?") and missing:
        raise MissingVariable(f"{name}: {arg}")
    return value or ""


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Substitute variables in every string value (after YAML parsing, as Compose does)."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if isinstance(node, str):
        return _VARIABLE.sub(lambda m: _substitute(m, env), node)
    return node


def load_raw() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = interpolate(load_raw(), SAMPLE_ENV)
    return document


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DATA / "compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(validator: jsonschema.protocols.Validator, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def common_environment(compose: dict[str, Any]) -> dict[str, Any]:
    environment: dict[str, Any] = compose["x-airflow-common"]["environment"]
    return environment


# -- the schema and the file against it ----------------------------------------------------------------------


def test_the_vendored_schema_is_the_one_its_readme_names() -> None:
    readme = (DATA / "compose-spec.README.md").read_text()
    recorded = re.search(r"schema sha256: ([0-9a-f]{64})", readme)
    assert recorded, "tests/data/compose-spec.README.md must record the schema's sha256"
    assert hashlib.sha256((DATA / "compose-spec.json").read_bytes()).hexdigest() == recorded[1]
    assert (DATA / "compose-spec.LICENSE").read_text().lstrip().startswith("Apache License")


def test_the_file_is_valid_compose(compose: dict[str, Any], validator: jsonschema.protocols.Validator) -> None:
    assert errors(validator, compose) == []


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (
            ("services", "airflow-worker", "comand"),
            "celery worker",
            "airflow-worker: Unevaluated properties are not allowed ('comand' was unexpected)",
        ),
        (
            ("services", "airflow-scheduler", "depends_on", "redis", "condition"),
            "service_ready",
            "airflow-scheduler/depends_on: ",
        ),
        (("services", "airflow-triggerer", "healthcheck", "retry"), 5, "healthcheck: 'retry' does not match"),
        (("volumes", "airflow-logs"), "not-a-volume", "volumes/airflow-logs: 'not-a-volume' is not of type"),
    ],
)
def test_a_broken_copy_fails_validation(
    compose: dict[str, Any],
    validator: jsonschema.protocols.Validator,
    path: tuple[str, ...],
    value: object,
    complaint: str,
) -> None:
    broken = copy.deepcopy(compose)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    found = errors(validator, broken)
    assert any(complaint in e for e in found), found


# -- what a user relies on --------------------------------------------------------------------------------------


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_airflow_services_share_one_image_environment_and_mounts(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        for key in ("build", "image", "volumes", "user"):
            assert service[key] == common[key], (name, key)
        # A service may add variables (the worker's warm shutdown, init's admin user), never change shared ones.
        assert service["environment"].items() >= common["environment"].items(), name


def test_the_image_is_the_official_airflow_image_with_this_provider() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11" in dockerfile
    assert re.search(
        r'pip install .*"apache-airflow==\$\{AIRFLOW_VERSION\}" "/opt/beampipe/src\[postgres\]"', dockerfile
    )
    # Only what the Dockerfile copies reaches the build context (docker/Dockerfile.dockerignore): keep them in step.
    included = re.findall(r"^!(\S+)$", (ROOT / "docker" / "Dockerfile.dockerignore").read_text(), re.MULTILINE)
    copied = [s for line in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE) for s in line.split()]
    assert sorted(copied) == sorted(included)
    for source in copied:
        assert (ROOT / source).exists(), f"docker/Dockerfile copies {source}, which is not in the repository"


def test_celery_executor_with_redis_broker_and_postgres_results(compose: dict[str, Any]) -> None:
    env = common_environment(compose)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = make_url(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.get_backend_name(), broker.host, broker.port) == ("redis", "redis", 6379)
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).host == "postgres"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert compose["services"]["airflow-worker"]["command"] == "celery worker"


def test_the_dags_folder_is_mounted(compose: dict[str, Any]) -> None:
    assert "./dags:/opt/airflow/dags:ro" in compose["x-airflow-common"]["volumes"]
    assert (ROOT / "dags").is_dir()


def test_the_ledger_connection_is_a_database_on_the_postgres_service(compose: dict[str, Any]) -> None:
    conn = json.loads(common_environment(compose)["AIRFLOW_CONN_BEAMPIPE_LEDGER_DEFAULT"])
    assert conn["conn_type"] == "beampipe_ledger"
    assert conn["host"] in compose["services"]
    fields = SimpleNamespace(**{**conn, "extra_dejson": conn["extra"]})
    url = make_url(ledger_url_from_connection(fields))
    assert (url.get_backend_name(), url.host, url.port, url.database) == ("postgresql", "postgres", 5432, "beampipe")
    assert (url.username, url.password) == ("beampipe", "beampipe")  # the documented defaults


def test_airflow_init_prepares_and_migrates_the_ledger(compose: dict[str, Any]) -> None:
    script = compose["services"]["airflow-init"]["command"][-1]
    steps = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert steps[-2:] == [
        "python /opt/beampipe/ensure_ledger_database.py",
        "beampipe --conn-id beampipe_ledger_default ledger upgrade",
    ]
    assert "set -euo pipefail" in steps  # a failed step fails airflow-init, and nothing else starts


def test_connections_come_from_the_environment(compose: dict[str, Any]) -> None:
    raw_env = load_raw()["x-airflow-common"]["environment"]
    assert raw_env["AIRFLOW_CONN_CASDA_DEFAULT"] == "${AIRFLOW_CONN_CASDA_DEFAULT:-casda://}"
    assert raw_env["AIRFLOW_CONN_SLURM_DEFAULT"].startswith("${AIRFLOW_CONN_SLURM_DEFAULT:?")
    assert common_environment(compose)["AIRFLOW_CONN_SLURM_DEFAULT"] == SAMPLE_ENV["AIRFLOW_CONN_SLURM_DEFAULT"]


def test_services_have_healthchecks_and_start_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name != "airflow-init":  # a one-shot job: the others wait for it to complete
            assert service["healthcheck"]["test"], name
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            assert how["condition"] in {"service_healthy", "service_completed_successfully"}, (name, dependency)
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert {"postgres", "redis"} <= services[name]["depends_on"].keys(), name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}


# -- variables ------------------------------------------------------------------------------------------------


def test_every_variable_has_a_default_or_is_required_and_all_are_documented() -> None:
    text = COMPOSE_FILE.read_text()
    header = text.split("\n---", 1)[0]
    for match in _VARIABLE.finditer(text):
        if match["escaped"]:
            continue
        assert not match["bare"], f"unbraced variable near {text[match.start() : match.start() + 40]!r}"
        name, op = match["name"], match["op"] or ""
        assert op in {":-", ":?"}, f"${{{name}}} needs a default (:-) or a message when unset (:?)"
        assert re.search(rf"^#\s+{name}\b", header, re.MULTILINE), f"{name} is not documented at the top"


def test_without_the_required_variables_compose_refuses_with_a_message() -> None:
    with pytest.raises(MissingVariable, match=r"AIRFLOW_CONN_SLURM_DEFAULT: set AIRFLOW_CONN_SLURM_DEFAULT in \.env"):
        interpolate(load_raw(), {})


def test_interpolation_reads_defaults_escapes_and_overrides() -> None:
    assert interpolate("${A:-x} ${B-y} $${HOSTNAME}", {"B": ""}) == "x  ${HOSTNAME}"
    assert interpolate("${A:-x}", {"A": "set"}) == "set"
    with pytest.raises(ValueError, match="unbraced"):
        interpolate("$HOSTNAME", {})


RECOVERY = (
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT",
    "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG",
)


def test_the_tested_topology_recovers_from_a_database_restart_as_the_deployment_does(
    compose: dict[str, Any], tmp_path
) -> None:
    from tests.topology import _cluster_env

    deployed = common_environment(compose)
    tested = _cluster_env(tmp_path, tmp_path, "postgresql://u@127.0.0.1/db", "redis://127.0.0.1/0", 8080, "x")
    assert {k: deployed[k] for k in RECOVERY} == {k: tested[k] for k in RECOVERY}
    assert int(deployed["AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL"]) <= 30  # a lost task is found fast
    assert json.loads(deployed["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"])["result_backend_always_retry"] is True
