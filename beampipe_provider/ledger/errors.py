"""Ledger errors: each says what was refused and what to do; nothing is changed when one is raised."""

from __future__ import annotations

from collections.abc import Iterable

from beampipe_provider.ledger.states import IllegalTransition, RunState

__all__ = [
    "IllegalTransition",
    "LedgerError",
    "SchemaNotCurrent",
    "StaleState",
    "UnknownDatasets",
    "UnknownRun",
    "UnknownSources",
]


class LedgerError(Exception):
    pass


class SchemaNotCurrent(LedgerError):
    """The database is not at the schema revision this provider was built for."""


class UnknownRun(LedgerError, LookupError):
    def __init__(self, run_key: str) -> None:
        super().__init__(f"no run with key {run_key!r} in the ledger")
        self.run_key = run_key


class StaleState(LedgerError):
    """Compare-and-set lost: the run is no longer in the state (or with the claimant) the caller expected."""

    def __init__(
        self,
        run_key: str,
        expected: RunState,
        actual: RunState,
        claimed_by: str | None = None,
    ) -> None:
        owner = f", claimed by {claimed_by!r}" if claimed_by else ""
        super().__init__(f"run {run_key} is {actual}{owner}, not {expected} as expected; nothing changed")
        self.run_key = run_key
        self.expected = expected
        self.actual = actual


def _listed(ids: Iterable[str], limit: int = 10) -> str:
    items = sorted(ids)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class UnknownSources(LedgerError, LookupError):
    def __init__(self, survey: str, source_ids: Iterable[str]) -> None:
        self.source_ids = sorted(source_ids)
        super().__init__(f"not registered in survey {survey}: {_listed(self.source_ids)}; nothing changed")


class UnknownDatasets(LedgerError, LookupError):
    def __init__(self, archive: str, dataset_ids: Iterable[str]) -> None:
        self.dataset_ids = sorted(dataset_ids)
        super().__init__(
            f"not recorded in the ledger ({archive}): {_listed(self.dataset_ids)}; record datasets before planning"
        )
