"""Provenance: signed, per-survey chained records, append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "beampipe_provenance"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("run_key", sa.String(64), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("previous_sha256", sa.String(128), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_beampipe_provenance"),
        sa.ForeignKeyConstraint(
            ["run_key"], ["beampipe_runs.run_key"], name="fk_beampipe_provenance_run_key_beampipe_runs"
        ),
        sa.UniqueConstraint("run_key", name="uq_beampipe_provenance_run_key"),
        sa.UniqueConstraint("record_sha256", name="uq_beampipe_provenance_record_sha256"),
        sa.UniqueConstraint("previous_sha256", name="uq_beampipe_provenance_previous_sha256"),
    )
    op.create_index("ix_beampipe_provenance_survey_id", TABLE, ["survey", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION beampipe_provenance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'beampipe_provenance is append-only'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER beampipe_provenance_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION beampipe_provenance_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER beampipe_provenance_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'beampipe_provenance is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER beampipe_provenance_append_only ON {TABLE}")
        op.execute("DROP FUNCTION beampipe_provenance_refuse_change()")
    else:
        op.execute("DROP TRIGGER beampipe_provenance_no_update")
        op.execute("DROP TRIGGER beampipe_provenance_no_delete")
    op.drop_index("ix_beampipe_provenance_survey_id", TABLE)
    op.drop_table(TABLE)
