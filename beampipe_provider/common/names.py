"""Names a run is stored under (workflow, version, scheduler, facility): one rule for the survey YAML, the CLI
and the ledger's callers, so nothing with a newline, a quote or `$(...)` reaches the ledger, a job or a log line."""

from __future__ import annotations

import re

WORKFLOW_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
WORKFLOW_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
# A facility is a built-in profile's name or a profile file (a path: letters, digits, _ . - and /).
FACILITY = r"^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}$"

RULES = {
    "workflow": WORKFLOW_NAME,
    "workflow version": WORKFLOW_VERSION,
    "scheduler": WORKFLOW_NAME,
    "facility": FACILITY,
}


def check_name(value: str, what: str) -> str:
    """`value` if it fits the rule for `what` (a key of RULES), else ValueError naming `what`."""
    pattern = RULES[what]
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{what} {value!r}: not allowed (allowed: {pattern})")
    return value
