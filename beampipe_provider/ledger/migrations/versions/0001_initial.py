"""Initial ledger: sources, datasets, runs, run datasets, append-only run events, watermarks.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATES = (
    "DISCOVERED",
    "CLAIMED",
    "STAGED",
    "SUBMITTED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "UNCERTAIN",
)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "beampipe_sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_beampipe_sources"),
        sa.UniqueConstraint("survey", "source_id", name="uq_beampipe_sources_survey_source_id"),
    )
    op.create_table(
        "beampipe_datasets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("archive", sa.String(32), nullable=False),
        sa.Column("dataset_id", sa.String(255), nullable=False),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64)),
        sa.Column("sbid", sa.BigInteger),
        sa.Column("filename", sa.String(1024)),
        sa.Column("access_url", sa.Text),
        sa.Column("size", sa.BigInteger),
        _ts("release_date", nullable=True),
        sa.Column("quality", sa.String(32)),
        sa.Column("checksum", sa.String(128)),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("change_token", sa.String(32), nullable=False),
        _ts("first_seen"),
        _ts("last_seen"),
        sa.PrimaryKeyConstraint("id", name="pk_beampipe_datasets"),
        sa.UniqueConstraint("archive", "dataset_id", name="uq_beampipe_datasets_archive_dataset_id"),
    )
    op.create_index(
        "ix_beampipe_datasets_survey_source_id",
        "beampipe_datasets",
        ["survey", "source_id"],
    )
    op.create_table(
        "beampipe_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_key", sa.String(64), nullable=False),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(128), nullable=False),
        sa.Column("workflow_version", sa.String(64), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("scheduler", sa.String(32)),
        sa.Column("facility", sa.String(64)),
        sa.Column("scheduler_job_id", sa.String(64)),
        sa.Column("claimed_by", sa.String(255)),
        _ts("claim_expires_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("submitted_at", nullable=True),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_beampipe_runs"),
        sa.UniqueConstraint("run_key", name="uq_beampipe_runs_run_key"),
        sa.CheckConstraint(sa.column("state").in_(STATES), name="ck_beampipe_runs_state"),
    )
    op.create_index("ix_beampipe_runs_state_id", "beampipe_runs", ["state", "id"])
    op.create_index("ix_beampipe_runs_survey_source_id", "beampipe_runs", ["survey", "source_id"])
    op.create_index("ix_beampipe_runs_scheduler_job_id", "beampipe_runs", ["scheduler_job_id"])
    op.create_table(
        "beampipe_run_datasets",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("dataset_pk", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dataset_pk", name="pk_beampipe_run_datasets"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["beampipe_runs.id"],
            name="fk_beampipe_run_datasets_run_id_beampipe_runs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_pk"],
            ["beampipe_datasets.id"],
            name="fk_beampipe_run_datasets_dataset_pk_beampipe_datasets",
        ),
    )
    op.create_index("ix_beampipe_run_datasets_dataset_pk", "beampipe_run_datasets", ["dataset_pk"])
    op.create_table(
        "beampipe_run_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_key", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_beampipe_run_events"),
        sa.ForeignKeyConstraint(
            ["run_key"],
            ["beampipe_runs.run_key"],
            name="fk_beampipe_run_events_run_key_beampipe_runs",
        ),
    )
    op.create_index("ix_beampipe_run_events_run_key_id", "beampipe_run_events", ["run_key", "id"])
    op.create_table(
        "beampipe_watermarks",
        sa.Column("archive", sa.String(32), nullable=False),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("archive", "survey", "name", name="pk_beampipe_watermarks"),
    )
    _make_events_append_only()


def _make_events_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION beampipe_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'beampipe_run_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER beampipe_run_events_append_only BEFORE UPDATE OR DELETE ON beampipe_run_events "
            "FOR EACH ROW EXECUTE FUNCTION beampipe_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER beampipe_run_events_no_{verb.lower()} BEFORE {verb} ON beampipe_run_events "
            "BEGIN SELECT RAISE(ABORT, 'beampipe_run_events is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER beampipe_run_events_append_only ON beampipe_run_events")
        op.execute("DROP FUNCTION beampipe_refuse_change()")
    else:
        op.execute("DROP TRIGGER beampipe_run_events_no_update")
        op.execute("DROP TRIGGER beampipe_run_events_no_delete")
    for table in (
        "beampipe_watermarks",
        "beampipe_run_events",
        "beampipe_run_datasets",
        "beampipe_runs",
        "beampipe_datasets",
        "beampipe_sources",
    ):
        op.drop_table(table)
