"""The run state machine: pure data and predicates, no database."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    DISCOVERED = "DISCOVERED"
    CLAIMED = "CLAIMED"
    STAGED = "STAGED"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNCERTAIN = "UNCERTAIN"  # the submission's outcome is unknown: reconcile by job name, never resubmit blind


S = RunState

TERMINAL: frozenset[RunState] = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})

# Runs whose claim may expire: nothing outside the ledger depends on them yet, so another claimant can redo the
# work. Once a job may exist (SUBMITTED and later), a run is adopted by job name, never reclaimed.
RECLAIMABLE: frozenset[RunState] = frozenset({S.CLAIMED, S.STAGED})

ALLOWED: dict[RunState, frozenset[RunState]] = {
    S.DISCOVERED: frozenset({S.CLAIMED, S.CANCELLED}),
    S.CLAIMED: frozenset({S.STAGED, S.SUBMITTED, S.UNCERTAIN, S.DISCOVERED, S.FAILED, S.CANCELLED}),
    # back to DISCOVERED: a task gave the run back to the queue (its claim released) after giving up on it
    S.STAGED: frozenset({S.SUBMITTED, S.UNCERTAIN, S.CLAIMED, S.DISCOVERED, S.FAILED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.UNCERTAIN}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.UNCERTAIN}),
    # Reconciliation decides: the job was found (SUBMITTED/RUNNING/terminal) or provably never existed (STAGED).
    S.UNCERTAIN: frozenset({S.STAGED, S.SUBMITTED, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    # An operator may requeue a failed or cancelled run; it keeps its key and counts a new attempt when claimed.
    S.FAILED: frozenset({S.DISCOVERED}),
    S.CANCELLED: frozenset({S.DISCOVERED}),
    S.SUCCEEDED: frozenset(),
}


class IllegalTransition(ValueError):
    """A transition the state machine does not allow; nothing was changed."""

    def __init__(self, from_state: RunState, to_state: RunState) -> None:
        allowed = ", ".join(sorted(ALLOWED[from_state])) or "none (terminal)"
        super().__init__(f"illegal run transition {from_state} -> {to_state}; allowed from {from_state}: {allowed}")
        self.from_state = from_state
        self.to_state = to_state


def check_transition(from_state: RunState, to_state: RunState) -> None:
    if to_state not in ALLOWED[from_state]:
        raise IllegalTransition(from_state, to_state)
