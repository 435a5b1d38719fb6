"""The survey report's provenance column against a real ledger (SQLite and PostgreSQL): every status it can show,
and each survey's chain read and checked once per report however many runs it covers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from beampipe_provider.cli import main as beampipe
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import ProvenanceLedger
from beampipe_provider.provenance.signing import public_pem, sign
from beampipe_provider.surveys.report import (
    ProvenanceState,
    ProvenanceStatus,
    as_json,
    needs_attention,
    summarise,
)
from tests.integration.test_provenance_chain import maker, planned_runs

S = RunState


def succeed(store: LedgerStore, run_keys: list[str]) -> None:
    store.claim_runs("test", ttl=timedelta(minutes=5), limit=len(run_keys), run_keys=run_keys)
    for run_key in run_keys:
        store.transition(run_key, expected=S.CLAIMED, to=S.SUBMITTED, actor="test", scheduler_job_id="1")
        store.transition(run_key, expected=S.SUBMITTED, to=S.SUCCEEDED, actor="test")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The queries (SELECT statements) the engine sends while the block runs."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_each_provenance_status_is_reported_with_its_reason(store: LedgerStore) -> None:
    key = Ed25519PrivateKey.generate()
    runs = planned_runs(store, 5)
    succeed(store, runs[:4])  # runs[4] is still DISCOVERED
    ledger = ProvenanceLedger(store)
    good = ledger.append("WALLABY", runs[0], maker(runs[0]), key)
    ledger.append("WALLABY", runs[1], maker(runs[1]), Ed25519PrivateKey.generate())  # someone else's key
    # runs[2] succeeded but has no record; runs[3]'s record names a predecessor that is not the one before it
    stray = sign(maker(runs[3])("f" * 64), key)
    assert store.add_provenance("WALLABY", runs[3], stray)

    report = {s.run_key: s.provenance for s in summarise(store, runs, key.public_key())}

    assert report[runs[0]] == ProvenanceStatus(ProvenanceState.VERIFIED)
    assert report[runs[1]].state is ProvenanceState.INVALID
    assert report[runs[1]].problems[0].startswith("signature: made with key")
    assert report[runs[2]] == ProvenanceStatus(ProvenanceState.MISSING)
    assert report[runs[3]].state is ProvenanceState.INVALID
    assert report[runs[3]].problems[-1].startswith(f"chain: record of run {runs[3]} follows {'f' * 64}, but")
    assert report[runs[4]] == ProvenanceStatus(ProvenanceState.NOT_FINISHED)
    # what the report table and the report task's XCom show
    shown = {s["run_key"]: s["provenance"] for s in as_json(summarise(store, runs, key.public_key()))}
    assert [shown[r] for r in (runs[0], runs[2], runs[4])] == ["verified", "missing", "-"]
    assert shown[runs[1]] == str(report[runs[1]]) == "invalid: " + "; ".join(report[runs[1]].problems)
    attention = needs_attention(summarise(store, runs, key.public_key()), [])
    assert [line.split(" ", 1)[0] for line in attention] == [runs[1][:12], runs[3][:12]]
    assert good["record"]["previous"] is None

    unkeyed = {s.run_key: s.provenance.state for s in summarise(store, runs, None)}
    assert [unkeyed[r] for r in runs] == [
        ProvenanceState.UNVERIFIED,
        ProvenanceState.UNVERIFIED,
        ProvenanceState.MISSING,
        ProvenanceState.UNVERIFIED,
        ProvenanceState.NOT_FINISHED,
    ]
    assert str(ProvenanceStatus(ProvenanceState.UNVERIFIED)) == "recorded (no key to verify)"


def test_a_report_over_many_runs_reads_the_chain_once(store: LedgerStore) -> None:
    key = Ed25519PrivateKey.generate()
    runs = planned_runs(store, 40)
    succeed(store, runs)
    ledger = ProvenanceLedger(store)
    for run_key in runs:
        ledger.append("WALLABY", run_key, maker(run_key), key)

    with statements(store.engine) as sent:
        report = summarise(store, runs, key.public_key())

    assert {s.provenance.state for s in report} == {ProvenanceState.VERIFIED}
    # one read of the survey's chain, then two reads per run (the run, its datasets): linear in the runs
    assert sum("beampipe_provenance" in statement for statement in sent) == 1
    assert len(sent) == 2 * len(runs) + 1


def test_beampipe_runs_report_lists_every_run_of_the_survey(store: LedgerStore, ledger_url: str, tmp_path, capsys):
    key = Ed25519PrivateKey.generate()
    (tmp_path / "signer.pub").write_bytes(public_pem(key))
    runs = planned_runs(store, 5)
    succeed(store, runs[:3])
    for run_key in runs[:2]:
        ProvenanceLedger(store).append("WALLABY", run_key, maker(run_key), key)
    by_key = {r.run_key: r.source_id for r in store.iter_runs("WALLABY")}

    pub = str(tmp_path / "signer.pub")
    command = ["--db", ledger_url, "runs", "report", "--survey", "WALLABY", "--public-key", pub]
    assert beampipe(command) == 0

    rows = {line.split()[0]: line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:]}
    expected = ["verified", "verified", "missing", "-", "-"]
    assert rows == {by_key[r]: status for r, status in zip(runs, expected, strict=True)}
