"""Ledger tables (SQLAlchemy Core). Table names carry a prefix so the ledger can share a database with Airflow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from beampipe_provider.ledger.states import RunState


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on every dialect (SQLite stores naive text, so the zone is re-attached)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SURVEY_LEN = 64
SOURCE_ID_LEN = 64
DATASET_ID_LEN = 255
RUN_KEY_LEN = 64

sources = sa.Table(
    "beampipe_sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("survey", sa.String(SURVEY_LEN), nullable=False),
    sa.Column("source_id", sa.String(SOURCE_ID_LEN), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("survey", "source_id"),
)

datasets = sa.Table(
    "beampipe_datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("archive", sa.String(32), nullable=False),
    sa.Column("dataset_id", sa.String(DATASET_ID_LEN), nullable=False),
    sa.Column("survey", sa.String(SURVEY_LEN), nullable=False),
    sa.Column("source_id", sa.String(SOURCE_ID_LEN)),
    sa.Column("sbid", sa.BigInteger),
    sa.Column("filename", sa.String(1024)),
    sa.Column("access_url", sa.Text),
    sa.Column("size", sa.BigInteger),
    sa.Column("release_date", UTCDateTime),
    sa.Column("quality", sa.String(32)),
    sa.Column("checksum", sa.String(128)),
    sa.Column("signature", sa.String(64), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    # Which record_datasets call inserted or last changed the row: lets one upsert's RETURNING tell new, changed
    # and unchanged rows apart without reading before writing.
    sa.Column("change_token", sa.String(32), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.UniqueConstraint("archive", "dataset_id"),
    sa.Index(None, "survey", "source_id"),
)

runs = sa.Table(
    "beampipe_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_key", sa.String(RUN_KEY_LEN), nullable=False, unique=True),
    sa.Column("survey", sa.String(SURVEY_LEN), nullable=False),
    sa.Column("source_id", sa.String(SOURCE_ID_LEN), nullable=False),
    sa.Column("workflow", sa.String(128), nullable=False),
    sa.Column("workflow_version", sa.String(64), nullable=False),
    sa.Column("parameters", JSONType, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("scheduler", sa.String(32)),
    sa.Column("facility", sa.String(64)),  # the facility profile's name (setonix, local)
    sa.Column("scheduler_job_id", sa.String(64)),
    sa.Column("claimed_by", sa.String(255)),
    sa.Column("claim_expires_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("submitted_at", UTCDateTime),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("cluster", sa.String(64)),  # the Slurm cluster of the job (--clusters), where the site has several
    sa.CheckConstraint(sa.column("state").in_([s.value for s in RunState]), name="state"),
    sa.Index(None, "state", "id"),
    sa.Index(None, "survey", "source_id"),
    sa.Index(None, "scheduler_job_id"),
)

run_datasets = sa.Table(
    "beampipe_run_datasets",
    metadata,
    sa.Column(
        "run_id",
        sa.Integer,
        sa.ForeignKey(runs.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "dataset_pk",
        sa.Integer,
        sa.ForeignKey(datasets.c.id),
        primary_key=True,
        index=True,
    ),
)

# Append-only: the migration installs triggers that refuse UPDATE and DELETE.
run_events = sa.Table(
    "beampipe_run_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_key", sa.String(RUN_KEY_LEN), sa.ForeignKey(runs.c.run_key), nullable=False),
    sa.Column("from_state", sa.String(16)),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("detail", JSONType, nullable=False),
    sa.Index(None, "run_key", "id"),
)

# Signed provenance envelopes, one per run, chained per survey. Append-only (database triggers); a record has at most
# one successor (unique previous_sha256), so two runs finishing at once cannot fork the chain: the loser re-chains.
provenance = sa.Table(
    "beampipe_provenance",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("survey", sa.String(SURVEY_LEN), nullable=False),
    sa.Column("run_key", sa.String(RUN_KEY_LEN), sa.ForeignKey(runs.c.run_key), nullable=False, unique=True),
    sa.Column("record_sha256", sa.String(64), nullable=False, unique=True),
    # the previous record's hash, or "genesis:<survey>" for the first: never NULL, so the first is unique too
    sa.Column("previous_sha256", sa.String(128), nullable=False, unique=True),
    sa.Column("envelope", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "survey", "id"),
)

watermarks = sa.Table(
    "beampipe_watermarks",
    metadata,
    sa.Column("archive", sa.String(32), primary_key=True),
    sa.Column("survey", sa.String(SURVEY_LEN), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
