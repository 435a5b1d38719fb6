"""Alembic environment: always run with the engine handed over by beampipe_provider.ledger.migrate."""

from __future__ import annotations

from alembic import context

from beampipe_provider.ledger.migrate import context_options
from beampipe_provider.ledger.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        **context_options(),
    )
    context.run_migrations()
