#!/usr/bin/env python3
"""Runs inside the Slurm job, with the facility's cwltool (stdlib only, and canonical.py from the bundle; beampipe
is not installed there).

Runs `cwltool --no-container` on the bundle's workflow and job order, its stderr in cwltool.log, and writes,
atomically, in the run directory:
  outcome.json    state (SUCCEEDED, FAILED, TIMEOUT, CANCELLED), message, exit code, cwltool's version, session id,
                  the workflow's hash, timings, failing steps (step, error lines from cwltool.log)
  inventory.json  every File of cwltool's output object: path, size, sha256 (computed here, sha1 checked)
Exit code: 0 success; 1 the workflow failed (failing steps named); 2 timeout; 143 SIGTERM (scancel, time limit).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

try:
    from canonical import sha256_hex  # the bundle's copy of beampipe's own
except ImportError:  # imported from the package (tests, tools), not run from a run directory
    from beampipe_provider.common.canonical import sha256_hex

OK, FAILED, TIMEOUT, TERMINATED = 0, 1, 2, 143
ERROR_CHARS = 2000
_RECORD = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$")
_TAG = re.compile(r"^\[(job|step) ([^\]]+)\] ?(.*)$")
_GENERIC = ("Workflow cannot make any more progress", "Final process status", "Unexpected exception")


class Terminated(Exception):
    """SIGTERM arrived: Slurm is ending the job."""


def write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False))
    os.replace(tmp, path)


def digests(path: Path) -> tuple[str, str]:
    sha256, sha1 = hashlib.sha256(), hashlib.sha1()  # noqa: S324 (cwltool's checksum, compared, not trusted)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha256.update(block)
            sha1.update(block)
    return sha256.hexdigest(), sha1.hexdigest()


def cwltool_version(cwltool: str) -> str:
    try:
        out = subprocess.run([cwltool, "--version"], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    words = out.stdout.split()
    return words[-1] if out.returncode == 0 and words else "unknown"


def output_files(value: Any) -> list[dict[str, Any]]:
    """Every File cwltool's output object names: in arrays and records, secondaryFiles, Directories' listings
    (a Directory without a listing is walked on disk)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, list):
        for item in value:
            found += output_files(item)
    elif isinstance(value, dict):
        kind = value.get("class")
        if kind == "File":
            found.append(value)
            found += output_files(value.get("secondaryFiles", []))
        elif kind == "Directory":
            if "listing" in value:
                found += output_files(value["listing"])
            elif (where := local_path(value)) and where.is_dir():
                found += [{"class": "File", "path": str(p)} for p in sorted(where.rglob("*")) if p.is_file()]
        else:
            for item in value.values():
                found += output_files(item)
    return found


def local_path(obj: dict[str, Any]) -> Path | None:
    if obj.get("path"):
        return Path(obj["path"])
    location = str(obj.get("location", ""))
    if location.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(location).path))
    return None


def inventory(outputs: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Products, sorted by path, hashed here; and what disagrees with cwltool's own account of them."""
    products: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for obj in output_files(outputs):
        path = local_path(obj)
        if path is None or not path.is_file():
            problems.append(f"output {obj.get('location') or obj.get('path')}: not a file here")
            continue
        sha256, sha1 = digests(path)
        checksum = str(obj.get("checksum", ""))
        if checksum.startswith("sha1$") and checksum != f"sha1${sha1}":
            problems.append(f"output {path}: sha1 {sha1}, cwltool reported {checksum}")
        products[str(path)] = {"path": str(path), "size": path.stat().st_size, "sha256": sha256}
    return [products[p] for p in sorted(products)], problems


def failing_steps(log: str) -> list[dict[str, str]]:
    """Steps cwltool reports as failed or logs an error in, in that order, each with its lines: WARNING and ERROR
    records about its jobs, the tools' own stderr, and untagged errors while the step ran (no tracebacks)."""
    job_step: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    failed: list[str] = []
    current: str | None = None  # the step whose records these are
    follow = "skip"  # what lines after a record are: "command" (echo, then the tool's output), "keep", "skip"
    for line in log.splitlines():
        record = _RECORD.match(line)
        if record is None:
            if follow == "command" and line.startswith("    "):
                continue  # the command cwltool echoes
            if follow != "skip" and current is not None and line.strip():
                errors.setdefault(current, []).append(line.strip())
            continue
        level, text = record.groups()
        tag = _TAG.match(text)
        follow = "skip"
        if tag:
            kind, name, rest = tag.groups()
            # a scatter's jobs are measure, measure_2, ...: a job belongs to the step that started before it
            current = name if kind == "step" else job_step.setdefault(name, current or re.sub(r"_\d+$", "", name))
            if "completed permanentFail" in rest or "completed temporaryFail" in rest or level == "ERROR":
                failed += [] if current in failed else [current]
            if level in ("WARNING", "ERROR") and "completed " not in rest:
                errors.setdefault(current, []).append(f"[{kind} {name}] {rest}")
                follow = "keep"
            elif kind == "job" and "$ " in rest:
                follow = "command"
        elif level in ("ERROR", "CRITICAL") and current is not None and not text.startswith(_GENERIC):
            # an error cwltool raises while a step runs (a missing input) may end the run with no step completed
            failed += [] if current in failed else [current]
            errors.setdefault(current, []).append(text)
            follow = "keep"
    return [{"step": s, "error": "\n".join(errors.get(s, []))[-ERROR_CHARS:]} for s in failed]


def last_errors(log: str, count: int = 3) -> str:
    lines = [m.group(2) for m in map(_RECORD.match, log.splitlines()) if m and m.group(1) in ("ERROR", "CRITICAL")]
    return "; ".join(line for line in lines if not line.startswith(_GENERIC))[-ERROR_CHARS:] or "no error logged"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """cwltool and every tool it started (its own process group): TERM, then KILL within Slurm's KillWait."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            os.killpg(proc.pid, 0)  # the leader is gone; are its children?
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    bundle = json.loads((run_dir / "bundle.json").read_text())
    outputs, log_path, tmp = run_dir / "outputs", run_dir / "cwltool.log", run_dir / "tmp"
    outputs.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    t0 = time.time()
    outcome: dict[str, Any] = {
        "state": None,
        "engine": {"name": "cwl", "version": cwltool_version(args.cwltool)},
        "session_id": f"cwl-{os.environ.get('SLURM_JOB_ID') or f'local-{os.getpid()}'}",
        "graph_sha256": {"workflow": sha256_hex(json.loads((run_dir / bundle["workflow"]).read_text()))},
        "timings": {},
        "failing_steps": [],
        "log": str(log_path),
        "inventory": "inventory.json",
    }

    def finish(code: int, state: str, message: str, products: list[dict[str, Any]] | None = None) -> int:
        outcome.update(state=state, message=message, exit_code=code)
        outcome["timings"]["total_s"] = round(time.time() - t0, 3)
        write_json(run_dir / "inventory.json", products or [])
        write_json(run_dir / "outcome.json", outcome)
        print(f"beampipe: {message}", flush=True)
        return code

    argv = [
        args.cwltool,
        "--no-container",
        "--disable-color",
        "--relax-path-checks",  # names reach tools as arguments, never through a shell: any file name is inert
        f"--outdir={outputs}",
        f"--basedir={run_dir}",
        f"--tmpdir-prefix={tmp}/",
        f"--tmp-outdir-prefix={tmp}/",
        str(run_dir / bundle["target"]),
        str(run_dir / "inputs.json"),
    ]
    t_run = time.time()
    with (run_dir / "cwl-output.json").open("wb") as stdout, log_path.open("wb") as stderr:
        try:
            proc = subprocess.Popen(argv, cwd=run_dir, stdout=stdout, stderr=stderr, start_new_session=True)
        except OSError as exc:
            return finish(FAILED, "FAILED", f"cannot start {args.cwltool}: {exc.strerror}")
        try:
            code = proc.wait(max(1.0, args.timeout - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            stop(proc)
            outcome["failing_steps"] = failing_steps(log_path.read_text(errors="replace"))
            return finish(TIMEOUT, "TIMEOUT", f"cwltool still running after {args.timeout:.0f} s; stopped")
        except Terminated:
            stop(proc)
            return finish(TERMINATED, "CANCELLED", "terminated by SIGTERM (scancel or the job's time limit)")
        finally:
            stop(proc)  # tools cwltool left behind in its group
    outcome["timings"]["run_s"] = round(time.time() - t_run, 3)
    log = log_path.read_text(errors="replace")
    try:
        result = json.loads((run_dir / "cwl-output.json").read_text() or "null")
    except ValueError:
        result = None
    products, problems = inventory(result)
    if code == 0 and result is not None and not problems:
        return finish(OK, "SUCCEEDED", f"cwltool: success; {len(products)} products", products)
    outcome["failing_steps"] = failing_steps(log)
    if outcome["failing_steps"]:
        detail = "failing steps: " + ", ".join(s["step"] for s in outcome["failing_steps"])
    else:
        detail = "; ".join(problems) or last_errors(log)
    return finish(FAILED, "FAILED", f"cwltool exited {code}; {detail}", products)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--cwltool", default="cwltool")
    signal.signal(signal.SIGTERM, on_sigterm)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
