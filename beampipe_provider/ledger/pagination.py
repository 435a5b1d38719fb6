"""Keyset pagination: one page of a listing, and every page of it in turn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from beampipe_provider.common.limits import MAX_AFTER, InputTooLarge
from beampipe_provider.ledger.bulk import AnyRow

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated listing; pass next_after back as `after` for the next page."""

    items: list[T]
    next_after: int | None


def fetch_page(
    engine: Engine,
    query: sa.Select[Any],
    id_column: sa.ColumnElement[int],
    after: int | None,
    limit: int,
    convert: Callable[[AnyRow], T],
) -> Page[T]:
    """`query` selects the paging id as `id`, ordered by it, with `limit + 1` rows: the extra one says there is more."""
    if after is not None:
        if not 0 <= after <= MAX_AFTER:  # past a 64-bit row id SQLite raises OverflowError binding it
            raise InputTooLarge(f"after: from 0 to {MAX_AFTER}")
        query = query.where(id_column > after)
    with engine.begin() as conn:
        rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[convert(row) for row in rows],
        next_after=rows[-1].id if more and rows else None,
    )


def all_pages(fetch: Callable[[int | None], Page[T]]) -> Iterator[T]:
    """Every item of a listing, page after page: `fetch(after)` returns the page that follows `after` (None: the
    first). Each page is its own short transaction, so a long walk holds no lock."""
    after: int | None = None
    while True:
        page = fetch(after)
        yield from page.items
        if (after := page.next_after) is None:
            return
