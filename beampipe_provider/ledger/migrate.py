"""Schema migrations (Alembic, shipped inside the package) and the schema check every user of the ledger runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from beampipe_provider.ledger.errors import LedgerError, SchemaNotCurrent
from beampipe_provider.ledger.schema import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Not Alembic's default "alembic_version": the ledger may live in Airflow's own metadata database.
VERSION_TABLE = "beampipe_alembic_version"
UPGRADE_HINT = "beampipe ledger upgrade"


def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's include_object: the ledger may share a database with Airflow; look only at our own tables."""
    return type_ != "table" or bool(name and name.startswith("beampipe_"))


def context_options() -> dict[str, Any]:
    return {"version_table": VERSION_TABLE, "include_object": ours, "compare_type": True}


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise LedgerError(f"no migrations found in {MIGRATIONS_DIR}: the package is incomplete")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts=context_options()).get_current_revision()


def drift(engine: Engine) -> list[Any]:
    """Differences between the migrated database and schema.py (empty when the migrations match the code)."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts=context_options()), metadata))


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(_config(engine), revision)


def check_schema(engine: Engine) -> None:
    """Refuse an unmigrated, older or newer ledger, saying which command fixes it."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaNotCurrent(f"the ledger at {where} has no schema yet: run `{UPGRADE_HINT}`")
    known = {rev.revision for rev in _scripts().walk_revisions()}
    if current not in known:
        raise SchemaNotCurrent(
            f"the ledger at {where} is at revision {current}, newer than this beampipe-provider knows "
            f"(head {head}): upgrade airflow-provider-beampipe"
        )
    raise SchemaNotCurrent(f"the ledger at {where} is at revision {current}, not {head}: run `{UPGRADE_HINT}`")
