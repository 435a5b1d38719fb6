"""The deployment of docker-compose.airflow.yml as local processes of the real `airflow` CLI, for tests.

    with airflow_cluster(DAGS, {"AIRFLOW_CONN_...": "..."}) as cluster:
        run_id = cluster.trigger("my_dag", {"key": "value"})
        assert cluster.wait("my_dag", run_id, timeout=120) == "success"
        cluster.task_instances("my_dag", run_id)       # REST task instances, with their `hostname`
        cluster.airflow("backfill", "create", ...)     # any CLI command against this deployment

Metadata DB: a fresh PostgreSQL database (tests/databases.py). CeleryExecutor with Redis on 127.0.0.1:6379 and the
Celery result backend in the same database; scheduler, dag-processor, triggerer, two Celery workers and the
api-server. Each cluster uses its own Celery queue and worker names, so clusters may share one Redis.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from tests.e2e.conftest import AirflowEnv

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("BEAMPIPE_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = 5  # not 0: leave the default database to whatever else uses this Redis
HOSTNAME_ENV = "BEAMPIPE_PROCESS_HOSTNAME"
TERMINAL_STATES = frozenset({"success", "failed"})
ADMIN = "admin"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def process_hostname() -> str:
    """[core] hostname_callable of the cluster: two workers on one machine must record different hostnames."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


class ClusterError(AssertionError):
    """A process died, did not become healthy, or a run did not finish: the message carries the logs."""


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: Mapping[str, str]) -> None:
        self._log = self.log_path.open("ab")
        # Own session: teardown signals the process group, reaching the children (uvicorn, the Celery pool).
        self.popen = subprocess.Popen(
            self.argv,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def send(self, sig: signal.Signals) -> None:
        if self.popen is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def wait(self, until: float) -> bool:
        """Whether the process has exited by the monotonic time UNTIL."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(max(0.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()


def _terminate_with_parent() -> None:
    """Linux: SIGTERM this process when the test process dies, even by SIGKILL, so no deployment outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_all(processes: list[Process], grace: float = 30.0) -> None:
    """SIGTERM every process group at once (Celery's warm shutdown, the scheduler's job end), SIGKILL laggards."""
    for process in processes:
        process.send(signal.SIGTERM)
    until = time.monotonic() + grace
    for process in processes:
        if not process.wait(until):
            process.send(signal.SIGKILL)
            process.wait(time.monotonic() + 10)
        process.close_log()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AirflowCluster:
    """A running deployment: REST helpers over its api-server, its CLI, and its processes' logs."""

    def __init__(self, cli: AirflowEnv, api_url: str, password: str, processes: list[Process], workers: list[str]):
        self.cli = cli
        self.api_url = api_url
        self.workers = workers
        self.processes = {p.name: p for p in processes}
        self._password = password
        self._client: httpx.Client | None = None

    # -- processes -------------------------------------------------------------------------------------------

    def logs(self, lines: int = 40) -> dict[str, str]:
        """The last lines of every process's output (stdout and stderr)."""
        return {name: p.tail(lines) for name, p in self.processes.items()}

    def describe(self, lines: int = 40) -> str:
        """Every process's state and log tail, dead processes first (their tails are longer)."""
        ordered = sorted(self.processes.values(), key=lambda p: p.exit_code() is None)
        return "\n".join(
            f"--- {p.name} (exit code {p.exit_code()}) ---\n{p.tail(lines if p.exit_code() is None else 3 * lines)}"
            for p in ordered
        )

    def check_alive(self) -> None:
        dead = [name for name, p in self.processes.items() if p.exit_code() is not None]
        if dead:
            raise ClusterError(f"Airflow process(es) died: {', '.join(dead)}\n{self.describe()}")

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `airflow ARGS...` against this deployment (same home, database, broker, DAGs)."""
        return self.cli.airflow(*args, check=check)

    # -- REST ------------------------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        import httpx

        if self._client is None:
            login = httpx.post(
                f"{self.api_url}/auth/token", json={"username": ADMIN, "password": self._password}, timeout=30
            )
            login.raise_for_status()
            token = login.json()["access_token"]
            self._client = httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return self._client

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated request to the api-server, e.g. api("GET", "/api/v2/dags"); raises on HTTP errors."""
        response = self.client.request(method, path, **kwargs)
        if response.is_error:
            raise ClusterError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response

    def wait_for_dag(self, dag_id: str, timeout: float = 90.0) -> None:
        """Until the dag-processor has parsed DAG_ID; on timeout, the import errors say why not."""
        deadline = time.monotonic() + timeout
        while self.client.get(f"/api/v2/dags/{dag_id}").status_code != 200:
            self.check_alive()
            if time.monotonic() > deadline:
                errors = self.api("GET", "/api/v2/importErrors").json()
                raise ClusterError(f"DAG {dag_id} not parsed in {timeout:.0f} s; import errors: {errors}")
            time.sleep(1)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Start a manual run (unpausing the DAG) and return its run id."""
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body).json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()["state"])

    def wait(self, dag_id: str, run_id: str, timeout: float = 120.0, poll: float = 1.0) -> str:
        """The run's final state (success or failed); a timeout or a dead process raises with the logs."""
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in TERMINAL_STATES:
            self.check_alive()
            if time.monotonic() > deadline:
                tasks = {(t["task_id"], t["map_index"]): t["state"] for t in self.task_instances(dag_id, run_id)}
                raise ClusterError(
                    f"{dag_id}/{run_id} still {state} after {timeout:.0f} s; tasks {tasks}\n{self.describe()}"
                )
            time.sleep(poll)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones per map index): task_id, map_index, state, hostname, ..."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return list(self.api("GET", path, params={"limit": 1000}).json()["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The task's log as the UI shows it (worker and triggerer parts), one `timestamp level event` a line."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        params = {"map_index": map_index, "full_content": True}
        content = self.api("GET", path, params=params).json()["content"]
        return "\n".join(f"{e.get('timestamp', '')} {e.get('level', '')} {e.get('event', '')}" for e in content)

    # -- start-up --------------------------------------------------------------------------------------------

    def wait_healthy(self, timeout: float) -> None:
        """Until the api-server reports the metadata DB, scheduler, triggerer and dag-processor healthy and
        every Celery worker answers a ping."""
        deadline = time.monotonic() + timeout
        pending = "the api-server"
        while time.monotonic() < deadline:
            self.check_alive()
            pending = self._unhealthy()
            if not pending:
                return
            time.sleep(1)
        raise ClusterError(f"not healthy after {timeout:.0f} s: {pending}\n{self.describe()}")

    def _unhealthy(self) -> str:
        import httpx

        try:
            health = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return "the api-server"
        sick = [part for part, status in health.items() if (status or {}).get("status") != "healthy"]
        if sick:
            return f"{', '.join(sick)} (api-server health: {health})"
        silent = set(self.workers) - _ping_workers(self.cli.env["AIRFLOW__CELERY__BROKER_URL"], self.workers)
        return f"celery workers {sorted(silent)}" if silent else ""

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _ping_workers(broker_url: str, workers: list[str]) -> set[str]:
    """The workers that answer a Celery ping (a bare Celery app: the control channel needs only the broker)."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.ping(destination=[f"celery@{w}" for w in workers], timeout=1.0)
    finally:
        app.close()
    return {name.split("@", 1)[1] for reply in replies for name in reply}


def _check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise ClusterError(f"Redis is not reachable at {url}: start it (scripts/services up). {exc}") from exc


def _forget_queue(url: str, cluster_id: str) -> None:
    """Drop this cluster's Celery keys (queue, bindings, unacked tasks) from the shared Redis."""
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"*{cluster_id}*"):
        client.delete(key)


def _cluster_env(home: Path, dags_folder: Path, db_url: str, broker: str, port: int, cluster_id: str) -> dict[str, str]:
    from cryptography.fernet import Fernet
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url.set(drivername="postgresql+psycopg2").render_as_string(False),
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url.set(drivername="postgresql").render_as_string(False),
        # Own queue: another cluster (or test run) on the same Redis never takes this cluster's tasks.
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"beampipe-{cluster_id}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",  # two cores: one api-server worker is plenty for tests
        # Every process signs and checks execution-API tokens and decrypts connections with the same keys.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.topology.process_hostname",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # the deployment's recovery settings (docker-compose.airflow.yml)
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps(
            {"result_backend_always_retry": True, "result_backend_max_retries": 20}
        ),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }


def _processes(bin_dir: Path, logs: Path, queue: str, workers: list[str], concurrency: int) -> list[Process]:
    airflow = str(bin_dir / "airflow")
    commands = {
        "api-server": [airflow, "api-server"],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
        # No log server: every process shares this machine's log folder, and fixed ports would clash.
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
    }
    for worker in workers:
        commands[worker] = [
            *(airflow, "celery", "worker", "-H", worker, "-c", str(concurrency), "-q", queue),
            *("--skip-serve-logs", "--without-mingle", "--without-gossip"),
        ]
    return [Process(name, argv, logs / f"{name}.log") for name, argv in commands.items()]


@contextmanager
def airflow_cluster(
    dags_folder: Path,
    env: Mapping[str, str] | None = None,
    *,
    home: Path | None = None,
    workers: int = 2,
    concurrency: int = 2,
    startup_timeout: float = 180.0,
) -> Iterator[AirflowCluster]:
    """Start the deployment, wait until every part is healthy, yield it, and stop it (process groups).

    ENV is added to every process's environment (connections as AIRFLOW_CONN_*, [section] options as
    AIRFLOW__SECTION__KEY) and may override the defaults. HOME defaults to a temporary directory, removed after.
    """
    from tests.databases import fresh_postgres
    from tests.e2e.conftest import BIN, AirflowEnv

    cluster_id = secrets.token_hex(4)
    broker = f"{REDIS_URL}/{REDIS_DB}"
    _check_redis(broker)
    with ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="beampipe-cluster-")))
        db_url = stack.enter_context(fresh_postgres())
        stack.callback(_forget_queue, broker, cluster_id)
        port = _free_port()
        cli = AirflowEnv(home)
        cli.env |= _cluster_env(home, Path(dags_folder).resolve(), db_url, broker, port, cluster_id) | dict(env or {})
        password = secrets.token_urlsafe(12)
        (home / "passwords.json").write_text(json.dumps({ADMIN: password}))
        cli.airflow("db", "migrate")

        names = [f"worker{i + 1}-{cluster_id}" for i in range(workers)]
        logs = home / "process-logs"
        logs.mkdir(exist_ok=True)
        processes = _processes(BIN, logs, cli.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"], names, concurrency)
        cluster = AirflowCluster(cli, f"http://127.0.0.1:{port}", password, processes, names)
        stack.callback(cluster.close)
        stack.callback(stop_all, processes)
        for process in processes:
            process.start(cli.env | {HOSTNAME_ENV: process.name})
        cluster.wait_healthy(startup_timeout)
        yield cluster


if __name__ == "__main__":  # a manual look: python -m tests.topology DAGS_FOLDER
    with airflow_cluster(Path(sys.argv[1])) as running:
        print(f"up: {running.api_url} (admin password in {running.cli.home / 'passwords.json'}); Ctrl-C stops")
        try:
            while True:
                running.check_alive()
                time.sleep(5)
        except KeyboardInterrupt:
            pass
