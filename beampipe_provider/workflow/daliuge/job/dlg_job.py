#!/usr/bin/env python3
"""Runs inside the Slurm job, with the facility's DALiuGE (stdlib + dlg only; beampipe is not installed there).

Starts a node manager and an island manager on this node, translates the run's logical graph to a physical
graph, submits it, waits for the session to end, and writes, atomically, in the run directory:
  outcome.json    session id and final state, failing drops (name, state, error lines), graph hashes, timings
  inventory.json  every file under outputs/: path, size, sha256
Exit code: 0 FINISHED with every drop COMPLETED; 1 the graph failed (failing drops named); 2 timeout, or a session
stuck before RUNNING; 3 the graph could not be deployed; 4 the managers did not start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from canonical import sha256_hex  # common/canonical.py, shipped in the bundle beside this file

SESSION_STATES = ["PRISTINE", "BUILDING", "DEPLOYING", "RUNNING", "FINISHED", "CANCELLED", "FAILED"]
DROP_STATES = ["INITIALIZED", "WRITING", "COMPLETED", "ERROR", "EXPIRED", "DELETED", "CANCELLED", "SKIPPED"]
APP_STATES = ["NOT_RUN", "RUNNING", "FINISHED", "ERROR", "CANCELLED", "SKIPPED"]
OK, FAILED, TIMEOUT, NOT_DEPLOYED, NO_MANAGERS = 0, 1, 2, 3, 4


def write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("daliuge-engine")
    except PackageNotFoundError:
        return "unknown"


def ports_free(ports: list[int]) -> str | None:
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return f"port {port} is in use"
    return None


def call(base: str, path: str, method: str = "GET", body: bytes | None = None, ctype: str | None = None) -> Any:
    request = urllib.request.Request(base + path, data=body, method=method)
    if ctype:
        request.add_header("Content-Type", ctype)
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    return False


def translate(lg_path: Path, session_id: str, node: str) -> list[Any]:
    """`dlg unroll | partition | map` in process. The repro-data calls are not optional: without them the engine
    raises KeyError 'rmode' as drops complete and the session never ends."""
    from dlg.common.reproducibility.reproducibility import (
        init_pg_repro_data,
        init_pgt_partition_repro_data,
        init_pgt_unroll_repro_data,
    )
    from dlg.dropmake.pg_generator import partition, resource_map, unroll

    pgt = init_pgt_unroll_repro_data(unroll(str(lg_path), oid_prefix=session_id))
    repro = pgt.pop()
    pgtp = partition(pgt, algo="metis", num_partitions=1, num_islands=1)
    pgtp.append(repro)
    pgtp = init_pgt_partition_repro_data(pgtp)
    repro = pgtp.pop()
    pg = resource_map(pgtp, [node.split(":")[0], node], num_islands=1)
    pg.append(repro)
    return list(init_pg_repro_data(pg))


def roots(pg: list[Any]) -> list[str]:
    """Drops with nothing upstream: they are marked completed at deploy to start the graph."""
    oids, inner = set(), set()

    def key(x: object) -> str:
        return next(iter(x)) if isinstance(x, dict) else str(x)

    for d in pg:
        oids.add(d["oid"])
        if d.get("categoryType") == "Application":
            if d.get("inputs") or d.get("streamingInputs"):
                inner.add(d["oid"])
            inner |= {key(x) for x in d.get("outputs", [])}
        else:
            if d.get("producers"):
                inner.add(d["oid"])
            inner |= {key(x) for x in d.get("consumers", []) + d.get("streamingConsumers", [])}
    return sorted(oids - inner)


def session_state(status: Any) -> int:
    values = list(status.values()) if isinstance(status, dict) else [status]
    return int(max(v if isinstance(v, int) else max(v.values()) for v in values))


def failing_drops(base: str, session_id: str, pg: list[Any]) -> list[dict[str, Any]]:
    names = {d["oid"]: d.get("name") or d.get("nm") or d["oid"] for d in pg}
    status = call(base, f"/sessions/{session_id}/graph/status")
    bad = []
    for oid, s in sorted(status.items()):
        if s.get("status") == 2 and s.get("execStatus", 2) == 2:
            continue
        copy = oid.rsplit("_", 1)[-1]  # the scatter copy, e.g. 0-1
        entry: dict[str, Any] = {
            "oid": oid,
            "name": f"{names.get(oid, oid)}[{copy}]",
            "state": DROP_STATES[s["status"]],
        }
        if "execStatus" in s:
            entry["app_state"] = APP_STATES[s["execStatus"]]
        if s.get("execStatus") == 3:
            try:
                logs = call(base, f"/sessions/{session_id}/graph/drop/{urllib.parse.quote(oid)}")["logs"]
                entry["error"] = "\n".join(
                    r["Message"].replace("<pre>", "").replace("</pre>", "").strip()
                    for r in logs
                    if r.get("Level") == "ERROR"
                )[-2000:]
            except (OSError, KeyError, ValueError, urllib.error.URLError):
                pass
        bad.append(entry)
    # the apps that failed on their own first (they have an error), then what failed because of them
    return sorted(bad, key=lambda d: (not d.get("error"), "app_state" not in d, d["oid"]))


def inventory(outputs: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in outputs.rglob("*") if p.is_file()) if outputs.is_dir() else []
    return [{"path": str(p), "size": p.stat().st_size, "sha256": sha256_file(p)} for p in files]


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    outcome: dict[str, Any] = {"state": None, "failing_drops": [], "timings": {}}
    os.environ.setdefault("USER", os.environ.get("LOGNAME") or str(os.getuid()))  # dlg needs $USER
    dlg_root = run_dir / "dlg"
    os.environ["DLG_ROOT"] = str(dlg_root)
    (dlg_root / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "outputs").mkdir(exist_ok=True)
    offset = (int(os.environ.get("SLURM_JOB_ID", "0")) % 1000) * 4  # several jobs may share a node
    nm, dim = args.nm_port + offset, args.dim_port + offset
    events, rpc = nm + 2, nm + 3
    node = f"localhost:{nm}:{events}:{rpc}"
    session_id = f"bp-{os.environ.get('SLURM_JOB_ID', 'local')}-{int(time.time())}"
    outcome["session_id"] = session_id
    outcome["engine"] = {"name": "daliuge", "version": engine_version()}
    t0 = time.time()
    procs: list[subprocess.Popen[bytes]] = []

    def finish(code: int, message: str) -> int:
        outcome["message"] = message
        outcome["exit_code"] = code
        outcome["timings"]["total_s"] = round(time.time() - t0, 3)
        outcome["inventory"] = "inventory.json"
        nm_logs = sorted((dlg_root / "logs").glob("dlgNM*.log"))
        outcome["nm_log"] = str(nm_logs[0] if nm_logs else dlg_root / "logs" / "nm.stdout")
        write_json(run_dir / "inventory.json", inventory(run_dir / "outputs"))
        write_json(run_dir / "outcome.json", outcome)
        print(f"beampipe: {message}", flush=True)
        return code

    try:
        if busy := ports_free([nm, dim, events, rpc]):
            return finish(NO_MANAGERS, f"cannot start DALiuGE managers: {busy}")
        logs = dlg_root / "logs"
        procs.append(
            subprocess.Popen(
                [
                    "dlg",
                    "nm",
                    "-H",
                    "localhost",
                    "-P",
                    str(nm),
                    "--event_port",
                    str(events),
                    "--rpc_port",
                    str(rpc),
                    "-l",
                    str(logs),
                    "--dlm-check-period",
                    "0",
                    "--dlm-cleanup-period",
                    "0",
                    "-t",  # worker threads: the allocation's CPUs, not every core of the node (dlg's default)
                    os.environ.get("SLURM_CPUS_PER_TASK", "1"),
                ],
                stdout=(logs / "nm.stdout").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                ["dlg", "dim", "-H", "localhost", "-P", str(dim), "-N", node, "-l", str(logs)],
                stdout=(logs / "dim.stdout").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        if not (
            wait_http(f"http://localhost:{nm}/api/sessions", procs[0], 60)
            and wait_http(f"http://localhost:{dim}/api", procs[1], 60)
        ):
            return finish(NO_MANAGERS, "DALiuGE managers did not start; see dlg/logs")
        outcome["timings"]["managers_s"] = round(time.time() - t0, 3)

        pg = [d for d in translate(run_dir / args.graph, session_id, node) if "oid" in d]
        outcome["graph_sha256"] = {"physical": sha256_hex(pg)}
        write_json(run_dir / "physical.graph", pg)
        base = f"http://localhost:{dim}/api"
        t_deploy = time.time()
        step = "create"
        try:
            call(base, "/sessions", "POST", json.dumps({"sessionId": session_id}).encode(), "application/json")
            step = "append"
            call(base, f"/sessions/{session_id}/graph/append", "POST", json.dumps(pg).encode(), "application/json")
            step = "deploy"
            form = urllib.parse.urlencode({"completed": ",".join(roots(pg))}).encode()
            call(base, f"/sessions/{session_id}/deploy", "POST", form, "application/x-www-form-urlencoded")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[-2000:]
            return finish(NOT_DEPLOYED, f"the graph could not be deployed ({step}): HTTP {exc.code}: {detail}")
        outcome["timings"]["deploy_s"] = round(time.time() - t_deploy, 3)
        t_run = time.time()
        state = 0
        while time.time() - t0 < args.timeout:
            state = session_state(call(base, f"/sessions/{session_id}/status"))
            outcome["state"] = SESSION_STATES[state]
            if state >= 4:
                break
            time.sleep(0.5)
        else:
            outcome["failing_drops"] = failing_drops(base, session_id, pg)
            return finish(TIMEOUT, f"session {session_id} still {SESSION_STATES[state]} after {args.timeout:.0f} s")
        outcome["timings"]["run_s"] = round(time.time() - t_run, 3)
        outcome["failing_drops"] = failing_drops(base, session_id, pg)
        if state == 4 and not outcome["failing_drops"]:
            return finish(OK, f"session {session_id} FINISHED")
        names = ", ".join(d["name"] for d in outcome["failing_drops"]) or "none"
        return finish(FAILED, f"session {session_id} {SESSION_STATES[state]}; failing drops: {names}")
    finally:
        stop(procs, session_id)


def stop(procs: list[subprocess.Popen[bytes]], session_id: str) -> None:
    """Stop the managers, then any app they started: BashShellApp children run in their own session (setsid) and
    outlive the node manager; they carry DLG_SESSION_ID in their environment."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    marker = f"DLG_SESSION_ID={session_id}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0") and int(environ.parent.name) != os.getpid():
                os.kill(int(environ.parent.name), 9)
        except (OSError, ValueError):
            continue


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--graph", default="logical.graph")
    parser.add_argument("--nm-port", type=int, default=8000)
    parser.add_argument("--dim-port", type=int, default=8001)
    parser.add_argument("--timeout", type=float, default=3600)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
