"""SlurmHook: an SSH connection to a Slurm login node -> schedulers (sync for tasks, async for triggers).

The sync side is the SSH provider's SSHHook (paramiko). The async side reads the same connection and extras
(key_file, private_key, private_key_passphrase, host_key, no_host_key_check, known_hosts) into an SshTarget:
SSHHookAsync 7.0.1 writes a `host_key` extra as a known_hosts line without the port, so host-key checking
fails on any port but 22, and login nodes behind a jump port are common. Host keys are verified by default."""

from __future__ import annotations

from typing import Any

from airflow.providers.ssh.hooks.ssh import SSHHook
from airflow.sdk import BaseHook

from beampipe_provider.hooks.connections import aget_connection
from beampipe_provider.scheduler.slurm import AsyncSlurmScheduler, SlurmScheduler
from beampipe_provider.scheduler.slurm.scheduler import LIMITS_TTL_S
from beampipe_provider.scheduler.transport import (
    DEFAULT_SSH_PORT,
    AsyncsshTransport,
    ParamikoTransport,
    SshTarget,
    asyncssh_connect,
)


def ssh_target(conn: Any) -> SshTarget:
    extra = conn.extra_dejson
    return SshTarget(
        host=conn.host,
        port=int(conn.port or DEFAULT_SSH_PORT),
        username=conn.login,
        password=conn.password or None,
        key_file=extra.get("key_file"),
        private_key=extra.get("private_key"),
        passphrase=extra.get("private_key_passphrase") or extra.get("passphrase"),
        host_key=extra.get("host_key"),
        known_hosts=extra.get("known_hosts"),
        no_host_key_check=str(extra.get("no_host_key_check", "false")).lower() == "true",
    )


class SlurmHook(BaseHook):
    """Slurm on the login node behind an SSH connection; `clusters` for multi-cluster sites (Setonix)."""

    conn_name_attr = "ssh_conn_id"
    default_conn_name = "ssh_default"
    conn_type = "ssh"
    hook_name = "Slurm over SSH"

    def __init__(self, ssh_conn_id: str = default_conn_name, *, clusters: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ssh_conn_id = ssh_conn_id
        self.clusters = clusters

    def get_scheduler(self, *, limits_ttl: float = LIMITS_TTL_S) -> SlurmScheduler:
        """A scheduler whose one connection (commands and SFTP) is made on first use and remade after a drop; the
        site's limits it reads are kept `limits_ttl` s for this login node."""
        return SlurmScheduler(
            ParamikoTransport(lambda: SSHHook(ssh_conn_id=self.ssh_conn_id).get_conn()),
            clusters=self.clusters,
            limits_key=self.ssh_conn_id,
            limits_ttl=limits_ttl,
        )

    async def aget_scheduler(self) -> AsyncSlurmScheduler:
        target = ssh_target(await aget_connection(self.ssh_conn_id))
        return AsyncSlurmScheduler(AsyncsshTransport(lambda: asyncssh_connect(target)), clusters=self.clusters)

    def test_connection(self) -> tuple[bool, str]:
        scheduler = self.get_scheduler()
        try:
            scheduler.status(["1"])
        except Exception as exc:
            return False, str(exc)
        finally:
            scheduler.close()
        return True, "squeue and sacct answered"
