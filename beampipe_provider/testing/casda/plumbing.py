"""The emulator's shared HTTP plumbing: the server and its state, faults, accounts, and a handler base with request
parsing, replies, redirects and Range-aware file bodies (for every mount: CASDA's paths and the ObsCore one)."""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from beampipe_provider.testing.casda.catalogue import Catalogue
from beampipe_provider.testing.casda.data_access import DataAccess
from beampipe_provider.testing.casda.obscore_data import OBSCORE, ObscoreService


@dataclass
class Faults:
    """What goes wrong next: counters are consumed one request at a time; latency applies to every request."""

    latency_s: float = 0.0
    tap_http_500: int = 0
    tap_query_error: int = 0
    tap_malformed: int = 0
    tap_hang_s: float = 0.0
    soda_stuck_suspended: int = 0
    soda_job_error: int = 0
    download_truncate: int = 0
    download_corrupt: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def update(self, spec: dict[str, Any]) -> None:
        with self._lock:
            for key, value in spec.items():
                if key.startswith("_") or not hasattr(self, key):
                    raise ValueError(f"unknown fault {key!r}")
                setattr(self, key, type(getattr(self, key))(value))

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """`latency_s=0.2,tap_http_500=2` (the --faults option)."""
        faults = cls()
        if spec:
            faults.update(dict(item.split("=", 1) for item in spec.split(",")))
        return faults


@dataclass
class Accounts:
    users: dict[str, str] = field(default_factory=lambda: {"opal-user@example.org": "opal-password"})

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return self.users.get(user) == password


class EmulatorServer(ThreadingHTTPServer):
    """Everything the handlers share. The ObsCore mount is always there, seeded, with a catalogue of its own."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHandler],
        catalogue: Catalogue,
        faults: Faults,
        accounts: Accounts,
    ) -> None:
        super().__init__(address, handler)
        self.catalogue = catalogue
        self.faults = faults
        self.accounts = accounts
        self.data = DataAccess()
        self.range_requests = 0  # read by tests through /_emulator/stats
        self.obscore = ObscoreService(self.base_url + OBSCORE, port=self.server_address[1])

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class BaseHandler(BaseHTTPRequestHandler):
    server: EmulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the client's view

    def _params(self) -> dict[str, str]:
        query = urlsplit(self.path).query
        params = {k.upper(): v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return {"_JSON": body}
            params.update({k.upper(): v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
        return params

    def _send(
        self,
        status: int,
        body: str,
        content_type: str = "application/x-votable+xml",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_bytes(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        """`data` from the start or from a `Range: bytes=N-`; the download_truncate fault drops it half way."""
        start = 0
        if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
            start = min(int(match.group(1)), len(data))
            self.server.range_requests += 1
        body = data[start:]
        self.send_response(HTTPStatus.PARTIAL_CONTENT if start else HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.server.faults.take("download_truncate"):
            self.wfile.write(body[: len(body) // 2])  # then the connection drops mid-file
            self.close_connection = True
            return
        self.wfile.write(body)
