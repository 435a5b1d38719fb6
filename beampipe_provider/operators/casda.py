"""CasdaStageOperator: the CASDA face of StageOperator (the OPAL account of a `casda` connection)."""

from __future__ import annotations

from typing import Any

from beampipe_provider.hooks.archive import CASDA_DEFAULT
from beampipe_provider.operators.stage import StageOperator


class CasdaStageOperator(StageOperator):
    """Stage, fetch and verify one run's CASDA datasets into `directory`/<run key>/ (see StageOperator)."""

    def __init__(self, *, casda_conn_id: str = CASDA_DEFAULT, **kwargs: Any) -> None:
        super().__init__(archive="casda", archive_conn_id=casda_conn_id, **kwargs)
        self.casda_conn_id = casda_conn_id
