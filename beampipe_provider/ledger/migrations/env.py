"""Alembic environment: always run with the engine handed over by beampipe_provider.ledger.migrate."""

from __future__ import annotations

from typing import Any

from alembic import context

from beampipe_provider.ledger.migrate import VERSION_TABLE
from beampipe_provider.ledger.schema import metadata


def _ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # The ledger may share a database with Airflow: never look at (or propose dropping) anyone else's tables.
    return type_ != "table" or bool(name and name.startswith("beampipe_"))


engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_object=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
