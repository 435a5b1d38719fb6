"""Bounds on what crosses a boundary (HTTP bodies, uploaded files, YAML files, JSON, text fields), in one place.

Every bound refuses with a message naming the field; nothing past a bound reaches the parser, the ledger or the
database. The README's "Security model" section lists them.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_BODY_BYTES = 5 * 1024 * 1024  # a request body or an uploaded source list (~100,000 sources)
MAX_JSON_BODY_BYTES = 1024 * 1024  # a JSON request body other than a source list
MAX_ROWS = 100_000  # sources in one list, datasets in one file
MAX_FIELD_CHARS = 4096  # one CSV cell, one JSON string in a source list
MAX_NESTING = 32  # JSON arrays/objects within each other; YAML collections within each other
MAX_NUMBER_DIGITS = 32  # one JSON number literal
MAX_YAML_NODES = 100_000  # nodes of a YAML document once its aliases are expanded
MAX_AFTER = 2**63 - 1  # the largest paging cursor (a signed 64-bit row id)
MAX_SEARCH_CHARS = 64  # a search or filter string


class InputTooLarge(ValueError):
    """Input beyond one of the bounds above, or not of the accepted form (NaN, control characters)."""


def _number(text: str) -> Any:
    if len(text) > MAX_NUMBER_DIGITS:
        raise InputTooLarge(f"a number of {len(text)} characters (at most {MAX_NUMBER_DIGITS})")
    return float(text) if any(c in text for c in ".eE") else int(text)


def _constant(name: str) -> Any:
    raise InputTooLarge(f"{name} is not a number JSON allows")


def depth(value: Any) -> int:
    """How deeply arrays/objects nest in a parsed JSON value (iteratively: any depth is safe to measure)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def load_json(text: str | bytes) -> Any:
    """json.loads with the bounds: no NaN/Infinity, no huge numbers, no deep nesting.

    Raises json.JSONDecodeError for text that is not JSON and InputTooLarge for JSON past a bound.
    """
    try:
        value = json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except RecursionError:
        raise InputTooLarge(f"nested more than {MAX_NESTING} levels deep") from None
    if depth(value) > MAX_NESTING:
        raise InputTooLarge(f"nested more than {MAX_NESTING} levels deep")
    return value


def check_text(value: str, what: str, *, max_chars: int = MAX_SEARCH_CHARS) -> str:
    """A one-line filter or search string: bounded, without control or invisible characters (NUL, CR, LF).
    The message starts with `what` (none: a pydantic validator, which names the field itself)."""
    prefix = f"{what}: " if what else ""
    if len(value) > max_chars:
        raise InputTooLarge(f"{prefix}at most {max_chars} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InputTooLarge(f"{prefix}contains control or invisible characters")
    return value
