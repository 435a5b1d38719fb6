"""`beampipe`: the operator's command line for the ledger and the source registry."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from beampipe_provider.common.limits import InputTooLarge, load_json
from beampipe_provider.common.names import check_name
from beampipe_provider.common.text_table import text_table
from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine, default_ledger_url, ledger_url_from_connection
from beampipe_provider.ledger.errors import LedgerError
from beampipe_provider.ledger.record_files import RecordFileError, load_dataset_file, load_source_list
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore, Run
from beampipe_provider.provenance.export import to_openlineage, to_prov_json
from beampipe_provider.provenance.signing import load_public_key
from beampipe_provider.provenance.verify import verify
from beampipe_provider.surveys.report import SUMMARY_HEADER, summarise

URL_ENV = "BEAMPIPE_LEDGER_URL"


def bundled(name: str) -> Path:
    """Example data shipped with the package (the WALLABY demo datasets)."""
    return Path(str(resources.files("beampipe_provider") / "data" / name))


def _ledger_url(args: argparse.Namespace) -> str:
    if args.conn_id:  # Airflow is imported only when asked for: the CLI must stay fast without it
        # An admin command on the Airflow host reads connections the way `airflow connections get` does
        # (metadata database and secrets backends); the SDK's task-side lookup cannot see the metastore here.
        from airflow.models.connection import Connection

        return ledger_url_from_connection(Connection.get_connection_from_secrets(args.conn_id))
    return str(args.db or os.environ.get(URL_ENV) or default_ledger_url())


def _store(args: argparse.Namespace) -> LedgerStore:
    engine = create_ledger_engine(_ledger_url(args))
    migrate.check_schema(engine)
    return LedgerStore(engine)


def _print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    print(text_table(rows, header))


def _when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


# -- ledger --------------------------------------------------------------------------------------------------


def cmd_ledger_upgrade(args: argparse.Namespace) -> None:
    engine = create_ledger_engine(_ledger_url(args))
    migrate.upgrade(engine, args.revision)
    print(f"ledger at {engine.url.render_as_string()} is at revision {migrate.current_revision(engine)}")


def cmd_ledger_downgrade(args: argparse.Namespace) -> None:
    engine = create_ledger_engine(_ledger_url(args))
    migrate.downgrade(engine, args.revision)
    print(f"ledger at {engine.url.render_as_string()} is at revision {migrate.current_revision(engine)}")


def cmd_ledger_current(args: argparse.Namespace) -> None:
    engine = create_ledger_engine(_ledger_url(args))
    print(f"current: {migrate.current_revision(engine)}  head: {migrate.head_revision()}")


# -- sources -------------------------------------------------------------------------------------------------


def cmd_sources_import(args: argparse.Namespace) -> None:
    records = load_source_list(args.file)  # validated whole before anything is written
    if args.disabled:
        records = [r.model_copy(update={"enabled": False}) for r in records]
    result = _store(args).register_sources(args.survey, records)
    print(f"{args.survey}: {len(result.created)} sources registered, {len(result.existing)} already registered")


def cmd_sources_list(args: argparse.Namespace) -> None:
    page = _store(args).list_sources(args.survey, enabled=args.enabled, search=args.search, limit=args.limit)
    if args.json:
        print(json.dumps([{**s.__dict__} for s in page.items], default=str, indent=2))
        return
    rows = [(s.survey, s.source_id, "yes" if s.enabled else "no", s.metadata.get("vsys_kms")) for s in page.items]
    _print_table(rows, ("SURVEY", "SOURCE", "ENABLED", "VSYS_KMS"))


def _set_enabled(enabled: bool) -> Callable[[argparse.Namespace], None]:
    def command(args: argparse.Namespace) -> None:
        changed = _store(args).set_enabled(args.survey, args.source_ids, enabled)
        print(f"{args.survey}: {changed} source(s) {'enabled' if enabled else 'disabled'}")

    return command


# -- datasets and runs ---------------------------------------------------------------------------------------


def cmd_datasets_record(args: argparse.Namespace) -> None:
    result = _store(args).record_datasets(load_dataset_file(args.file))
    print(f"datasets: {len(result.new)} new, {len(result.changed)} changed, {len(result.unchanged)} unchanged")


def cmd_runs_plan(args: argparse.Namespace) -> None:
    # The same rules as a survey file's workflow.name / workflow.version: nothing with a newline or `$(...)`.
    check_name(args.workflow, "workflow")
    check_name(args.workflow_version, "workflow version")
    if args.scheduler is not None:
        check_name(args.scheduler, "scheduler")
    if args.facility is not None:
        check_name(args.facility, "facility")
    try:
        parameters = load_json(args.parameters)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--parameters: not JSON: {exc.msg} (column {exc.colno})") from None
    except InputTooLarge as exc:
        raise ValueError(f"--parameters: {exc}") from None
    if not isinstance(parameters, dict):
        raise ValueError(f"--parameters must be a JSON object, not {args.parameters[:80]!r}")
    records = load_dataset_file(args.datasets)
    store = _store(args)
    recorded = store.record_datasets(records)
    print(f"datasets: {len(recorded.new)} new, {len(recorded.changed)} changed, {len(recorded.unchanged)} unchanged")
    plan = store.plan_runs(
        args.survey,
        [r.dataset_id for r in records if r.survey == args.survey],
        workflow=args.workflow,
        workflow_version=args.workflow_version,
        parameters=parameters,
        archive=records[0].archive if records else "casda",
        scheduler=args.scheduler,
        facility=args.facility,
    )
    print(f"runs: {len(plan.created)} created, {len(plan.existing)} already planned")
    for label, ids in (
        ("source not registered", plan.unknown_source),
        ("source disabled", plan.disabled_source),
        ("no source", plan.no_source),
    ):
        if ids:
            print(f"  not planned ({label}): {', '.join(ids)}")


def cmd_runs_list(args: argparse.Namespace) -> None:
    state = RunState(args.state.upper()) if args.state else None
    page = _store(args).list_runs(args.survey, state=state, source_id=args.source, limit=args.limit)
    if args.json:
        print(json.dumps([_run_json(r) for r in page.items], indent=2))
        return
    rows = [
        (r.run_key[:12], r.survey, r.source_id, r.state, r.attempt, r.scheduler_job_id, _when(r.updated_at))
        for r in page.items
    ]
    _print_table(rows, ("RUN", "SURVEY", "SOURCE", "STATE", "ATTEMPT", "JOB", "UPDATED (UTC)"))


def cmd_runs_report(args: argparse.Namespace) -> None:
    """The survey's runs as an operator reads them: source, datasets, state, Slurm job, duration, provenance."""
    store = _store(args)
    key = load_public_key(args.public_key.read_bytes()) if args.public_key else None
    run_keys = [r.run_key for r in store.iter_runs(args.survey)]
    _print_table([s.row() for s in summarise(store, run_keys, key)], SUMMARY_HEADER)


def _run_json(run: Run) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in run.__dict__.items()}


def cmd_runs_show(args: argparse.Namespace) -> None:
    store = _store(args)
    run = store.get_run(store.resolve_run_key(args.run_key))
    print(json.dumps(_run_json(run) | {"datasets": [d.dataset_id for d in store.run_datasets(run.run_key)]}, indent=2))
    events = store.run_history(run.run_key)
    _print_table(
        [(_when(e.at), e.from_state, e.to_state, e.actor, json.dumps(e.detail)) for e in events],
        ("AT (UTC)", "FROM", "TO", "ACTOR", "DETAIL"),
    )


def _envelope(store: LedgerStore, run_key_prefix: str) -> dict[str, Any]:
    run_key = store.resolve_run_key(run_key_prefix)
    envelope = store.provenance_envelope(run_key)
    if envelope is None:
        raise LedgerError(f"run {run_key} has no provenance record yet")
    return envelope


def cmd_provenance_show(args: argparse.Namespace) -> None:
    print(json.dumps(_envelope(_store(args), args.run_key), indent=2, sort_keys=True))


def cmd_provenance_export(args: argparse.Namespace) -> None:
    envelope = _envelope(_store(args), args.run_key)
    view = to_prov_json(envelope) if args.format == "prov-json" else to_openlineage(envelope)
    print(json.dumps(view, indent=2, sort_keys=True))


def cmd_provenance_verify(args: argparse.Namespace) -> int:
    """Signature, chain (the survey's records up to this one) and the output files present: one line per problem."""
    key = load_public_key(args.public_key.read_bytes())
    target = Path(args.target)
    chain: list[dict[str, Any]] = []
    if target.is_file():
        envelope = json.loads(target.read_text())
    else:
        store = _store(args)
        envelope = _envelope(store, args.target)
        run = envelope["record"]["run"]
        chain = store.provenance_chain(run["survey"], until_run_key=run["run_key"])
    problems = verify(envelope, key, chain=chain, outputs_root=args.outputs_root)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    run_key = envelope["record"]["run"].get("run_key")
    print(
        f"OK: record of run {run_key} is intact, signed by key {envelope['key_id']}"
        + (", chain intact" if chain else "")
    )
    return 0


# -- wiring --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beampipe", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", help=f"ledger SQLAlchemy URL (default: ${URL_ENV}, else SQLite under $AIRFLOW_HOME)")
    where.add_argument("--conn-id", help="use this Airflow connection of type beampipe_ledger")
    groups = parser.add_subparsers(dest="group", required=True)

    ledger = groups.add_parser("ledger", help="schema migrations").add_subparsers(dest="verb", required=True)
    up = ledger.add_parser("upgrade", help="migrate the ledger to the latest schema (safe to repeat)")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=cmd_ledger_upgrade)
    down = ledger.add_parser("downgrade", help="migrate the ledger down to a revision ('base' drops everything)")
    down.add_argument("revision")
    down.set_defaults(func=cmd_ledger_downgrade)
    ledger.add_parser("current", help="show the schema revision").set_defaults(func=cmd_ledger_current)

    src = groups.add_parser("sources", help="the source registry").add_subparsers(dest="verb", required=True)
    imp = src.add_parser("import", help="register sources from a CSV or JSON file (all or nothing)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--survey", required=True)
    imp.add_argument("--disabled", action="store_true", help="register new sources disabled")
    imp.set_defaults(func=cmd_sources_import)
    ls = src.add_parser("list", help="list registered sources")
    ls.add_argument("--survey")
    ls.add_argument("--search", help="substring of the source ID")
    ls.add_argument("--enabled", action=argparse.BooleanOptionalAction, default=None)
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_sources_list)
    for verb, enabled in (("enable", True), ("disable", False)):
        p = src.add_parser(verb, help=f"{verb} registered sources")
        p.add_argument("--survey", required=True)
        p.add_argument("source_ids", nargs="+", metavar="SOURCE_ID")
        p.set_defaults(func=_set_enabled(enabled))

    ds = groups.add_parser("datasets", help="archive datasets").add_subparsers(dest="verb", required=True)
    rec = ds.add_parser("record", help="record datasets from a JSON file (new / changed / unchanged)")
    rec.add_argument("file", type=Path)
    rec.set_defaults(func=cmd_datasets_record)

    rn = groups.add_parser("runs", help="planned and executed runs").add_subparsers(dest="verb", required=True)
    plan = rn.add_parser("plan", help="record a dataset file and plan one run per registered, enabled source")
    plan.add_argument("--survey", required=True)
    plan.add_argument("--datasets", type=Path, required=True)
    plan.add_argument("--workflow", required=True)
    plan.add_argument("--workflow-version", required=True)
    plan.add_argument("--parameters", default="{}", help="JSON object of workflow parameters")
    plan.add_argument("--scheduler")
    plan.add_argument("--facility")
    plan.set_defaults(func=cmd_runs_plan)
    rl = rn.add_parser("list", help="list runs")
    rl.add_argument("--survey")
    rl.add_argument("--state", choices=[s.value.lower() for s in RunState] + [s.value for s in RunState])
    rl.add_argument("--source")
    rl.add_argument("--limit", type=int, default=100)
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(func=cmd_runs_list)
    report = rn.add_parser("report", help="a survey's runs with job, duration and provenance status")
    report.add_argument("--survey", required=True)
    report.add_argument("--public-key", type=Path, help="verify each record's signature and chain with this key")
    report.set_defaults(func=cmd_runs_report)
    show = rn.add_parser("show", help="one run with its datasets and event history")
    show.add_argument("run_key", help="the run key or a unique prefix of it (8+ characters)")
    show.set_defaults(func=cmd_runs_show)

    prov = groups.add_parser("provenance", help="signed run records").add_subparsers(dest="verb", required=True)
    pshow = prov.add_parser("show", help="a run's signed provenance record")
    pshow.add_argument("run_key", help="the run key or a unique prefix of it (8+ characters)")
    pshow.set_defaults(func=cmd_provenance_show)
    pverify = prov.add_parser("verify", help="check signature, chain and output files; exit 1 on any mismatch")
    pverify.add_argument("target", help="a run key (prefix), or a record file written next to the outputs")
    pverify.add_argument("--public-key", type=Path, required=True, help="the signer's Ed25519 public key (PEM)")
    pverify.add_argument("--outputs-root", type=Path, help="look for the output files in this directory instead")
    pverify.set_defaults(func=cmd_provenance_verify)
    pexport = prov.add_parser("export", help="a run's record as W3C PROV-JSON or an OpenLineage run event")
    pexport.add_argument("run_key", help="the run key or a unique prefix of it (8+ characters)")
    pexport.add_argument("--format", choices=["prov-json", "openlineage"], default="prov-json")
    pexport.set_defaults(func=cmd_provenance_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RecordFileError, LedgerError, ValueError) as exc:
        print(f"beampipe: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
