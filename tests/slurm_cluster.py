"""The real local Slurm cluster and sshd (scripts/local-slurm): started once per session, or the tests fail."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from beampipe_provider.scheduler.slurm import AsyncSlurmScheduler, SlurmScheduler
from beampipe_provider.scheduler.transport import AsyncsshTransport, ParamikoTransport, SshTarget, asyncssh_connect

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "local-slurm"


@dataclass(frozen=True)
class LocalSlurm:
    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str
    account: str
    cluster: str

    @property
    def host_key(self) -> str:
        line = Path(self.known_hosts).read_text().split(maxsplit=1)[1]
        return line.strip()

    def target(self) -> SshTarget:
        return SshTarget(
            host=self.host, port=self.port, username=self.user, key_file=self.key_file, host_key=self.host_key
        )

    def connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(self.known_hosts)
        client.connect(self.host, port=self.port, username=self.user, key_filename=self.key_file, look_for_keys=False)
        return client

    def scheduler(self) -> SlurmScheduler:
        return SlurmScheduler(ParamikoTransport(self.connect))

    def async_scheduler(self, connect: Callable[..., object] | None = None) -> AsyncSlurmScheduler:
        target = self.target()
        return AsyncSlurmScheduler(AsyncsshTransport(lambda: asyncssh_connect(target)))

    def airflow_connection(self) -> str:
        """An Airflow SSH connection (AIRFLOW_CONN_* JSON) that pins the server's host key."""
        return json.dumps(
            {
                "conn_type": "ssh",
                "host": self.host,
                "port": self.port,
                "login": self.user,
                "extra": {"key_file": self.key_file, "host_key": self.host_key, "look_for_keys": "false"},
            }
        )

    # Administration as root on this machine, for faults a test causes on purpose.
    @staticmethod
    def admin(*argv: str) -> str:
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout

    def sacct(self, job_id: str, settle: float = 15.0) -> list[str]:
        """Accounting rows for a job (JobID|State|ExitCode|JobName|Partition), for asserting what ran. slurmdbd
        records a job as 'allocation' until its details arrive: wait (up to `settle` s) for the real name."""
        end = time.monotonic() + settle
        while True:
            out = self.admin("sacct", "-P", "-n", "-X", "-j", job_id, "-o", "JobID,State,ExitCode,JobName,Partition")
            rows = [line for line in out.splitlines() if line]
            if not any(row.split("|")[3] == "allocation" for row in rows) or time.monotonic() > end:
                return rows
            time.sleep(0.5)

    def sacct_by_name(self, name: str) -> list[str]:
        out = self.admin(
            "sacct", "-P", "-n", "-X", "-S", "now-1days", "--name", name, "-o", "JobID,State,ExitCode,JobName"
        )
        return [line for line in out.splitlines() if line]

    def wait_state(self, job_id: str, states: set[str], timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        state = ""
        while time.monotonic() < end:
            out = self.admin("squeue", "-h", "--states=all", "-j", job_id, "-o", "%T")
            state = out.strip()
            if state in states:
                return state
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} never reached {states}; last {state!r}")


def local_slurm() -> LocalSlurm:
    up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        raise RuntimeError(f"scripts/local-slurm up failed:\n{up.stdout}\n{up.stderr}")
    out = subprocess.run([str(SCRIPT), "env"], check=True, capture_output=True, text=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return LocalSlurm(
        host=env["BEAMPIPE_SLURM_SSH_HOST"],
        port=int(env["BEAMPIPE_SLURM_SSH_PORT"]),
        user=env["BEAMPIPE_SLURM_SSH_USER"],
        key_file=env["BEAMPIPE_SLURM_SSH_KEY"],
        known_hosts=env["BEAMPIPE_SLURM_KNOWN_HOSTS"],
        account=env["BEAMPIPE_SLURM_ACCOUNT"],
        cluster=env["BEAMPIPE_SLURM_CLUSTER"],
    )
