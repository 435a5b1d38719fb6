"""CasdaHook: an Airflow connection of type `casda` (TAP, SODA and login URLs; the OPAL username and password) ->
CASDA's archive adapter. Without a `casda_default` connection: public CASDA, no credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beampipe_provider.archive.casda.endpoints import CasdaEndpoints
from beampipe_provider.archive.tap import TapClient
from beampipe_provider.hooks.archive import CASDA_DEFAULT, ArchiveHook


class CasdaHook(ArchiveHook):
    conn_name_attr = "casda_conn_id"
    default_conn_name = CASDA_DEFAULT
    conn_type = "casda"
    hook_name = "CASDA"

    def __init__(
        self, casda_conn_id: str = CASDA_DEFAULT, *, rules: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__("casda", archive_conn_id=casda_conn_id, rules=rules, **kwargs)
        self.casda_conn_id = casda_conn_id

    def get_endpoints(self) -> CasdaEndpoints:
        return CasdaEndpoints.of(self.get_fields())

    def test_connection(self) -> tuple[bool, str]:
        try:
            TapClient(self.get_endpoints().tap_url).query("SELECT TOP 1 opal_code FROM casda.project", 1)
        except Exception as exc:
            return False, str(exc)
        return True, "CASDA TAP answered"
