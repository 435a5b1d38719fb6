"""`beampipe provenance show|verify` against a real SQLite ledger: intact records pass, tampering is named."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import jsonschema
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.cli import main as beampipe
from beampipe_provider.ledger import migrate
from beampipe_provider.ledger.engine import create_ledger_engine
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.provenance.chain import ProvenanceLedger
from beampipe_provider.provenance.record import build_record
from beampipe_provider.provenance.signing import public_pem
from tests.integration.test_provenance_chain import planned_runs


def setup(tmp_path: Path) -> tuple[str, list[str], list[dict], Path, Path]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = create_ledger_engine(url)
    migrate.upgrade(engine)
    store = LedgerStore(engine)
    key = Ed25519PrivateKey.generate()
    (tmp_path / "signer.pub").write_bytes(public_pem(key))
    product = tmp_path / "outputs" / "summary.txt"
    product.parent.mkdir()
    product.write_text("measured\n")
    output = {"path": str(product), "size": product.stat().st_size, "sha256": hashlib.sha256(b"measured\n").hexdigest()}
    runs = planned_runs(store, 3)
    ledger = ProvenanceLedger(engine)

    def make(run_key: str):
        return lambda previous: build_record(
            run={"run_key": run_key, "survey": "WALLABY"},
            inputs=[],
            workflow={},
            parameters={},
            environment={},
            execution={},
            outputs=[output],
            previous=previous,
        )

    envelopes = [ledger.append("WALLABY", r, make(r), key) for r in runs]
    engine.dispose()
    return url, runs, envelopes, tmp_path / "signer.pub", product


def test_an_intact_record_verifies(tmp_path: Path, capsys) -> None:
    url, runs, _, pub, _ = setup(tmp_path)
    assert beampipe(["--db", url, "provenance", "verify", runs[2][:12], "--public-key", str(pub)]) == 0
    assert "chain intact" in capsys.readouterr().out
    assert beampipe(["--db", url, "provenance", "show", runs[0]]) == 0
    assert json.loads(capsys.readouterr().out)["record"]["run"]["run_key"] == runs[0]


def test_a_record_changed_or_removed_behind_the_triggers_is_named(tmp_path: Path, capsys) -> None:
    url, runs, _, pub, _ = setup(tmp_path)
    engine = create_ledger_engine(url)
    with engine.begin() as conn:  # someone with database access removes the safeguards
        conn.execute(sa.text("DROP TRIGGER beampipe_provenance_no_delete"))
        conn.execute(sa.text("DELETE FROM beampipe_provenance WHERE run_key = :k"), {"k": runs[1]})
    engine.dispose()
    assert beampipe(["--db", url, "provenance", "verify", runs[2], "--public-key", str(pub)]) == 1
    assert f"chain: record of run {runs[2]} follows" in capsys.readouterr().out


def test_a_record_file_with_a_changed_output_or_a_wrong_key(tmp_path: Path, capsys) -> None:
    _, _, envelopes, pub, product = setup(tmp_path)
    record_file = tmp_path / "provenance.json"
    record_file.write_text(json.dumps(envelopes[0]))
    assert beampipe(["provenance", "verify", str(record_file), "--public-key", str(pub)]) == 0
    capsys.readouterr()
    product.write_text("MEASURED\n")
    assert beampipe(["provenance", "verify", str(record_file), "--public-key", str(pub)]) == 1
    assert f"output {product}: sha256 differs from the record" in capsys.readouterr().out
    other = tmp_path / "other.pub"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate()))
    assert beampipe(["provenance", "verify", str(record_file), "--public-key", str(other)]) == 1
    assert "signature: made with key" in capsys.readouterr().out


def test_exports_are_prov_json_and_openlineage(tmp_path: Path, capsys) -> None:
    url, runs, envelopes, _, _ = setup(tmp_path)
    assert beampipe(["--db", url, "provenance", "export", runs[0], "--format", "prov-json"]) == 0
    prov = json.loads(capsys.readouterr().out)
    schema = json.loads((Path(__file__).parents[1] / "data" / "prov-json.schema.json").read_text())
    jsonschema.validate(prov, schema)
    used = {q.split(":", 1)[0] for part in ("entity", "activity", "agent") for q in prov[part]}
    assert used <= set(prov["prefix"])  # every identifier's prefix is declared
    (activity,) = prov["activity"].values()
    assert activity["bp:record_sha256"] == envelopes[0]["record_sha256"]
    assert len(prov["wasGeneratedBy"]) == 1

    assert beampipe(["--db", url, "provenance", "export", runs[0], "--format", "openlineage"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert event["eventType"] == "COMPLETE"
    assert uuid.UUID(event["run"]["runId"]).version == 5
    assert re.fullmatch(r"beampipe\.WALLABY", event["job"]["namespace"])
    assert [o["name"] for o in event["outputs"]] == [str(tmp_path / "outputs" / "summary.txt")]
