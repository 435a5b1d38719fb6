"""Ed25519 signatures over a record's canonical bytes, and the envelope that carries record and signature."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from beampipe_provider.provenance.record import canonical_bytes, record_sha256

ALGORITHM = "ed25519"


class SigningKeyError(ValueError):
    """A signing or verification key that cannot be used."""


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("the signing key must be Ed25519")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SigningKeyError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("the verification key must be Ed25519")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(record: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The envelope stored in the ledger and written next to the outputs."""
    return {
        "record": dict(record),
        "record_sha256": record_sha256(record),
        "algorithm": ALGORITHM,
        "key_id": key_id(key),
        "signature": base64.b64encode(key.sign(canonical_bytes(record))).decode(),
    }


def check_signature(envelope: Mapping[str, Any], key: Ed25519PublicKey) -> list[str]:
    """Problems, one line each; empty when the record is intact and signed by this key."""
    problems = []
    record = envelope.get("record", {})
    if record_sha256(record) != envelope.get("record_sha256"):
        problems.append("record: its content does not match record_sha256 (the record was changed)")
    if envelope.get("key_id") != key_id(key):
        problems.append(f"signature: made with key {envelope.get('key_id')}, not with the given key {key_id(key)}")
    try:
        key.verify(base64.b64decode(str(envelope.get("signature", ""))), canonical_bytes(record))
    except (InvalidSignature, ValueError):
        problems.append("signature: does not verify over the record's canonical bytes")
    return problems
