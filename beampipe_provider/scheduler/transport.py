"""The one place remote commands run: an SSH connection to a login node, sync (paramiko) and async (asyncssh).

Both transports reconnect on the next call after a dropped connection and turn every network failure into a
`TransportError` (or its `ConnectError`, which means the command was certainly not sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from beampipe_provider.scheduler.base import TransportError

if TYPE_CHECKING:
    import asyncssh
    import paramiko

DEFAULT_SSH_PORT = 22


class ConnectError(TransportError):
    """No connection could be made: the command was never sent."""


class LoginRefused(ConnectError):
    """The login node was reached and refused us (its host key is not the pinned one, our key was not accepted):
    nothing to wait out, unlike a node that does not answer."""


def _refused(exc: BaseException) -> bool:
    import paramiko

    if isinstance(exc, paramiko.BadHostKeyException | paramiko.AuthenticationException):
        return True
    return isinstance(exc, paramiko.SSHException) and "known_hosts" in str(exc)


@dataclass(frozen=True)
class CommandResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str


class Transport(Protocol):
    def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult: ...

    def open_sftp(self) -> Any: ...

    def close(self) -> None: ...


class AsyncTransport(Protocol):
    async def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult: ...

    async def close(self) -> None: ...


class ParamikoTransport:
    """Runs commands over one paramiko client, made by `connect` on first use and again after a failure."""

    def __init__(self, connect: Callable[[], paramiko.SSHClient]) -> None:
        self._connect = connect
        self._client: paramiko.SSHClient | None = None

    def _ensure_client(self) -> paramiko.SSHClient:
        import paramiko

        if self._client is None:
            try:
                self._client = self._connect()
            except (paramiko.SSHException, OSError, EOFError) as exc:
                kind = LoginRefused if _refused(exc) else ConnectError
                raise kind(f"cannot connect to the login node: {exc}") from exc
        return self._client

    def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult:
        import paramiko

        client = self._ensure_client()
        try:
            chan_in, chan_out, chan_err = client.exec_command(command, timeout=timeout)
            if stdin is not None:
                chan_in.write(stdin)
            chan_in.channel.shutdown_write()
            out = chan_out.read().decode(errors="replace")
            err = chan_err.read().decode(errors="replace")
            code = chan_out.channel.recv_exit_status()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise TransportError(f"connection lost running `{command}`: {exc}") from exc
        if code == -1:  # the server closed the channel without an exit status
            self.close()
            raise TransportError(f"connection lost running `{command}`: no exit status")
        return CommandResult(command, code, out, err)

    def open_sftp(self) -> paramiko.SFTPClient:
        """An SFTP session on the same connection: uploads cost no second login."""
        import paramiko

        try:
            return self._ensure_client().open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise TransportError(f"cannot open an SFTP session: {exc}") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in; the same fields and extras the SSH provider's connections carry."""

    host: str
    username: str
    port: int = DEFAULT_SSH_PORT
    password: str | None = None
    key_file: str | None = None
    private_key: str | None = None
    passphrase: str | None = None
    host_key: str | None = None  # "ssh-ed25519 AAAA..." pins the server key
    known_hosts: str | None = None  # a known_hosts file; default ~/.ssh/known_hosts
    no_host_key_check: bool = False
    keepalive_interval: int = 30
    connect_timeout: float = 30.0

    def __repr__(self) -> str:  # never print credentials
        return f"SshTarget({self.username}@{self.host}:{self.port})"

    def asyncssh_options(self) -> dict[str, Any]:
        import asyncssh

        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "keepalive_interval": self.keepalive_interval,
            "connect_timeout": self.connect_timeout,
        }
        if self.password:
            options["password"] = self.password
        if self.private_key:
            options["client_keys"] = [asyncssh.import_private_key(self.private_key, self.passphrase)]
        elif self.key_file:
            options["client_keys"] = [self.key_file]
            if self.passphrase:
                options["passphrase"] = self.passphrase
        if self.no_host_key_check:
            options["known_hosts"] = None
        elif self.host_key:
            # known_hosts names a non-standard port as [host]:port; a bare host only matches port 22.
            pattern = self.host if self.port == DEFAULT_SSH_PORT else f"[{self.host}]:{self.port}"
            key = " ".join(self.host_key.split()[:2])
            options["known_hosts"] = f"{pattern} {key}\n".encode()
        elif self.known_hosts:
            options["known_hosts"] = self.known_hosts
        return options


async def asyncssh_connect(target: SshTarget) -> asyncssh.SSHClientConnection:
    import asyncssh

    return await asyncssh.connect(**target.asyncssh_options())


class AsyncsshTransport:
    """Runs commands as channels of one asyncssh connection, shared by every caller on this event loop."""

    def __init__(self, connect: Callable[[], Awaitable[asyncssh.SSHClientConnection]]) -> None:
        self._connect = connect
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self.connections_opened = 0

    async def _ensure_conn(self) -> asyncssh.SSHClientConnection:
        import asyncssh

        async with self._lock:  # many callers, one connection
            if self._conn is None:
                try:
                    self._conn = await self._connect()
                except (asyncssh.Error, OSError, EOFError) as exc:
                    raise ConnectError(f"cannot connect to the login node: {exc}") from exc
                self.connections_opened += 1
            return self._conn

    async def run(self, command: str, *, stdin: str | None = None, timeout: float | None = None) -> CommandResult:
        import asyncssh

        conn = await self._ensure_conn()
        try:
            result = await conn.run(command, input=stdin, check=False, timeout=timeout)
        except (asyncssh.Error, OSError, EOFError) as exc:
            await self._drop(conn)
            raise TransportError(f"connection lost running `{command}`: {exc}") from exc
        if result.exit_status is None:
            await self._drop(conn)
            raise TransportError(f"connection lost running `{command}`: no exit status")
        return CommandResult(command, result.exit_status, _text(result.stdout), _text(result.stderr))

    async def _drop(self, conn: asyncssh.SSHClientConnection) -> None:
        async with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
