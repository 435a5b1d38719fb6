"""LedgerStore: the one object that reads and writes the ledger, made of one room per aggregate.

    sources.py     SourcesRoom      the source registry
    datasets.py    DatasetsRoom     archive datasets and the datasets of a run
    run_plans.py   RunPlansRoom     planning: one run per enabled source, deterministic keys
    runs.py        RunsRoom         claims, compare-and-set transitions, listings, event history
    provenance.py  ProvenanceRoom   the chained table of signed run records
    pagination.py  Page, all_pages  keyset pages, and every page in turn

The rooms share only the engine and the clock, so each can also be used on its own; callers use LedgerStore and
import the records from here.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from beampipe_provider.ledger.datasets import DatasetsRoom, RecordResult
from beampipe_provider.ledger.pagination import Page, all_pages
from beampipe_provider.ledger.provenance import Envelope, ProvenanceRoom
from beampipe_provider.ledger.room import Clock, utcnow
from beampipe_provider.ledger.run_plans import PlanResult, RunPlansRoom
from beampipe_provider.ledger.runs import Run, RunEvent, RunsRoom
from beampipe_provider.ledger.sources import RegisterResult, Source, SourcesRoom

__all__ = [
    "Clock",
    "Envelope",
    "LedgerStore",
    "Page",
    "PlanResult",
    "RecordResult",
    "RegisterResult",
    "Run",
    "RunEvent",
    "Source",
    "all_pages",
    "utcnow",
]


class LedgerStore(SourcesRoom, DatasetsRoom, RunPlansRoom, RunsRoom, ProvenanceRoom):
    """Sources, datasets, runs and their events, and provenance records. Core code: no Airflow here.

    The caller migrates the schema (`beampipe ledger upgrade`) and checks it (`migrate.check_schema`); the store
    trusts the engine it is given. `clock` is injectable so claim expiry can be tested without sleeping.
    """

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        super().__init__(engine, clock)
