"""The one canonical JSON that is hashed (run keys, dataset signatures, graphs, provenance records), and its sha256.

Stdlib only: the in-job runners import this very file from the run bundle (beampipe is not installed on the
facility), so a graph hashed in the job and on the worker gives the same digest, non-ASCII text included."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
