"""What a provenance record must never hold: credentials in URLs, pre-signed query strings, secret parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"pass|secret|token|credential|auth|private|(^|_)key($|_)|signature|cookie", re.IGNORECASE)


def redact_url(url: str) -> str:
    """scheme://host/path only: user:password@ and the query (pre-signed tokens live there) are dropped."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact(value: Any, name: str = "") -> Any:
    """Parameters as rendered, with secret-named entries replaced and URLs stripped, at any depth."""
    if name and _SECRET_NAME.search(name):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value
