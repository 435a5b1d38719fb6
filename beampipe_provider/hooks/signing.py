"""The provenance signing key, from an Airflow connection (secrets live in connections, never in DAG files)."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from beampipe_provider.provenance.signing import load_private_key


def get_signing_key(conn_id: str) -> Ed25519PrivateKey:
    """The Ed25519 private key PEM in the connection's password, or in the file named by its extra `key_file`;
    an optional extra `passphrase` decrypts it."""
    secret = BaseHook.get_connection(conn_id)
    extra = secret.extra_dejson
    if not secret.password and not extra.get("key_file"):
        raise AirflowException(
            f"connection {conn_id!r} holds no signing key: put the Ed25519 private key PEM in its password, "
            "or its path in the extra `key_file`"
        )
    pem = secret.password.encode() if secret.password else Path(str(extra["key_file"])).read_bytes()
    return load_private_key(pem, (extra.get("passphrase") or "").encode() or None)
