"""The Slurm cluster of a run's job gets its own column; `facility` keeps the facility profile's name.

Before this, a submission overwrote `facility` with the job's cluster (or the SSH connection id), and adoption read
it back as the cluster. Rows written that way keep what they hold in `facility`; `cluster` starts empty for them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "beampipe_runs"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("cluster", sa.String(64), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite (3.35+) drops a plain column in place; a batch copy would rebuild the table under its foreign keys.
        op.execute(f"ALTER TABLE {TABLE} DROP COLUMN cluster")
    else:
        op.drop_column(TABLE, "cluster")
