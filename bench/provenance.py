"""Provenance cost against the hashing floor.

For 10, 1,000 and 10,000 output files totalling 1 GB: time to hash the outputs and build + sign the record, and
time to verify it (signature and every output re-hashed), each against `sha256sum` over the same files measured in
the same run (the floor: a record cannot be made or checked without reading every byte once). Target: 1.2x.

    .venv/bin/python bench/provenance.py [--total-mb 1024] [--files 10 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.provenance.record import build_record
from beampipe_provider.provenance.signing import sign
from beampipe_provider.provenance.verify import file_sha256, verify


def make_files(directory: Path, count: int, total: int) -> list[Path]:
    size = total // count
    block = os.urandom(min(size, 1 << 20))
    paths = []
    for i in range(count):
        path = directory / f"product-{i:05d}.fits"
        with path.open("wb") as f:
            left = size
            while left:
                f.write(block[: min(left, len(block))])
                left -= min(left, len(block))
        paths.append(path)
    return paths


def sha256sum_floor(paths: list[Path]) -> float:
    start = time.perf_counter()
    for chunk in range(0, len(paths), 1000):  # one process per 1,000 files, as a shell would batch them
        subprocess.run(["sha256sum", *map(str, paths[chunk : chunk + 1000])], check=True, capture_output=True)
    return time.perf_counter() - start


def hashlib_floor(paths: list[Path]) -> float:
    """The same reads and digests in this process (OpenSSL's SHA-256, with the CPU's SHA extensions where present;
    Debian 12's coreutils sha256sum has none, so it is the slower of the two floors)."""
    start = time.perf_counter()
    for path in paths:
        file_sha256(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, nargs="+", default=[10, 1000, 10000])
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    print("ratios: against sha256sum / against the in-process hashing floor")
    print(
        f"{'files':>6} {'sha256sum s':>11} {'hashing s':>9} {'record+sign s':>13} {'ratios':>11} "
        f"{'verify s':>8} {'ratios':>11}"
    )
    for count in args.files:
        directory = Path(tempfile.mkdtemp(prefix="beampipe-bench-prov-"))
        try:
            paths = make_files(directory, count, args.total_mb << 20)
            sha256sum_floor(paths)  # warm the page cache the same way for every measurement
            floor = sha256sum_floor(paths)
            hashing = hashlib_floor(paths)
            start = time.perf_counter()
            outputs = [{"path": str(p), "size": p.stat().st_size, "sha256": file_sha256(p)} for p in paths]
            record = build_record(
                run={"run_key": "bench"},
                inputs=[],
                workflow={},
                parameters={},
                environment={},
                execution={},
                outputs=outputs,
                previous=None,
            )
            envelope = sign(record, key)
            made = time.perf_counter() - start
            start = time.perf_counter()
            problems = verify(envelope, key.public_key())
            checked = time.perf_counter() - start
            assert not problems, problems
            print(
                f"{count:>6} {floor:>11.2f} {hashing:>9.2f} {made:>13.2f} {made / floor:>5.2f}/{made / hashing:>5.2f} "
                f"{checked:>8.2f} {checked / floor:>5.2f}/{checked / hashing:>5.2f}"
            )
        finally:
            shutil.rmtree(directory)


if __name__ == "__main__":
    main()
