"""What every ledger room shares: the engine, the clock, and the row helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from beampipe_provider.ledger.bulk import AnyRow

T = TypeVar("T")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Room:
    """One aggregate's reads and writes. `clock` is injectable so claim expiry can be tested without sleeping.

    The caller migrates the schema (`beampipe ledger upgrade`) and checks it (`migrate.check_schema`); a room trusts
    the engine it is given. Rooms hold no state of their own, so `LedgerStore` can be all of them at once."""

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._clock = clock


def fields_of(row: AnyRow, cls: Any) -> dict[str, Any]:
    """The row's values for the dataclass `cls` (listings also select the paging id, which is not a field)."""
    names = cls.__dataclass_fields__
    return {name: value for name, value in row._mapping.items() if name in names}


def chunks(items: Sequence[T], size: int = 10_000) -> Iterator[Sequence[T]]:
    """Bounded lookups: SQLite allows 32,766 host parameters per statement."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
