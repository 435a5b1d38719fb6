"""Provenance records: same run -> same bytes; every tampering is detected and named; no secret gets in."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.provenance.record import build_record, canonical_bytes
from beampipe_provider.provenance.signing import SigningKeyError, load_private_key, sign
from beampipe_provider.provenance.verify import check_chain, verify

SECRET = "s3cr3t-opal-password"
PRESIGNED = "X-Amz-Signature=abc123def"


def record_for(run_key: str, outputs: list[dict], previous: str | None = None) -> dict:
    return build_record(
        run={"run_key": run_key, "survey": "WALLABY", "source_id": "HIPASSJ1318-21", "workflow": "wallaby-hires"},
        inputs=[
            {
                "archive": "casda",
                "dataset_id": "visibility-2",
                "access_url": f"https://opal-user:{SECRET}@casda.example/datalink?ID=2&{PRESIGNED}",
                "archive_checksum": "md5:0f",
                "sha256": "ab" * 32,
                "size": 10240,
            },
            {"archive": "casda", "dataset_id": "visibility-1", "sha256": "cd" * 32, "size": 10240},
        ],
        workflow={"engine": "daliuge", "engine_version": "6.6.0", "graph_sha256": {"logical": "11" * 32}},
        parameters={"robust": "0.5", "casda_password": SECRET, "catalogue": f"https://x.example/c?token={SECRET}"},
        environment={
            "facility": {"name": "local", "setup": ["source /venv/bin/activate"]},
            "provider_version": "0.1.0",
            "airflow_version": "3.3.2",
            "images": {},
        },
        execution={
            "job_id": "1613",
            "state": "COMPLETED",
            "exit_code": 0,
            "started": datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
        },
        outputs=outputs,
        previous=previous,
    )


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def product(tmp_path: Path) -> dict:
    path = tmp_path / "summary.txt"
    path.write_text("ab  10240  1  beam00.tar\n")
    return {"path": str(path), "size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_the_same_run_gives_the_same_bytes(product: dict) -> None:
    one = canonical_bytes(record_for("r1", [product]))
    two = canonical_bytes(record_for("r1", [dict(reversed(list(product.items())))]))
    assert one == two
    assert b'"started":"2026-11-29T09:00:00Z"' in one


def test_no_secret_or_presigned_query_reaches_the_record(product: dict) -> None:
    text = canonical_bytes(record_for("r1", [product])).decode()
    assert SECRET not in text
    assert PRESIGNED not in text
    assert "https://casda.example/datalink" in text
    assert '"casda_password":"[redacted]"' in text


def test_a_signed_intact_record_verifies(key: Ed25519PrivateKey, product: dict) -> None:
    envelope = sign(record_for("r1", [product]), key)
    assert verify(envelope, key.public_key()) == []


def test_a_changed_field_is_detected(key: Ed25519PrivateKey, product: dict) -> None:
    envelope = sign(record_for("r1", [product]), key)
    tampered = copy.deepcopy(envelope)
    tampered["record"]["execution"]["exit_code"] = 1
    problems = verify(tampered, key.public_key())
    assert "record: its content does not match record_sha256 (the record was changed)" in problems
    assert "signature: does not verify over the record's canonical bytes" in problems


def test_a_wrong_key_is_detected(key: Ed25519PrivateKey, product: dict) -> None:
    envelope = sign(record_for("r1", [product]), key)
    problems = verify(envelope, Ed25519PrivateKey.generate().public_key())
    assert any(p.startswith("signature: made with key") for p in problems)


def test_a_changed_output_file_is_detected(key: Ed25519PrivateKey, product: dict) -> None:
    envelope = sign(record_for("r1", [product]), key)
    Path(product["path"]).write_text("ab  10240  1  beam00.tar\n".upper())  # same size, other bytes
    assert verify(envelope, key.public_key()) == [f"output {product['path']}: sha256 differs from the record"]


def test_a_removed_record_breaks_the_chain(key: Ed25519PrivateKey, product: dict) -> None:
    first = sign(record_for("r1", [product]), key)
    second = sign(record_for("r2", [product], previous=first["record_sha256"]), key)
    third = sign(record_for("r3", [product], previous=second["record_sha256"]), key)
    assert check_chain([first, second, third]) == []
    (problem,) = check_chain([first, third])
    assert problem.startswith("chain: record of run r3 follows")


def test_floats_are_refused_naming_where(product: dict) -> None:
    with pytest.raises(ValueError, match=r"record.execution.cpu_hours: floats are not allowed"):
        build_record(
            run={},
            inputs=[],
            workflow={},
            parameters={},
            environment={},
            execution={"cpu_hours": 1.5},
            outputs=[],
            previous=None,
        )


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SigningKeyError, match="must be Ed25519"):
        load_private_key(pem)
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        load_private_key(b"nonsense")


def test_the_envelope_is_json(key: Ed25519PrivateKey, product: dict) -> None:
    envelope = sign(record_for("r1", [product]), key)
    assert json.loads(json.dumps(envelope)) == envelope
