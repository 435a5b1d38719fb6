"""Start the CASDA emulator as a real process on loopback; fail loudly if it does not come up."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

TAP_PATH = "/casda_vo_tools/tap"


@dataclass
class RunningEmulator:
    base_url: str

    @property
    def tap_url(self) -> str:
        return self.base_url + TAP_PATH

    def admin(self, what: str, payload: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base_url}/_emulator/{what}",
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Content-Type": "application/json"},
            method="POST" if payload is not None else "GET",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def deposit(self, sbid: int, sources: list[str], **extra) -> dict:
        return self.admin("deposit", {"sbid": sbid, "sources": sources, **extra})

    def faults(self, **faults) -> dict:
        return self.admin("faults", faults)


@contextmanager
def casda_emulator(*args: str) -> Iterator[RunningEmulator]:
    process = subprocess.Popen(
        [sys.executable, "-m", "beampipe_provider.testing.casda", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    try:
        if not line or not line[0].startswith("http://127.0.0.1:"):
            process.kill()
            raise RuntimeError(
                f"CASDA emulator did not start: {process.stderr.read() if process.poll() else 'timeout'}"
            )
        yield RunningEmulator(line[0].strip())
    finally:
        process.kill()
        process.wait(timeout=10)
