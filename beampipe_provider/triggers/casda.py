"""CASDA's face of the deposit triggers: `casda_conn_id` instead of an archive name and connection."""

from __future__ import annotations

from typing import Any

from beampipe_provider.triggers.deposits import DepositEventTrigger


class CasdaDepositEventTrigger(DepositEventTrigger):
    """DepositEventTrigger on CASDA: one event per poll that found new deposits (see DepositEventTrigger)."""

    def __init__(self, *, rules: dict[str, Any], casda_conn_id: str = "casda_default", **kwargs: Any) -> None:
        super().__init__(rules=rules, archive="casda", archive_conn_id=casda_conn_id, **kwargs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        path, kwargs = super().serialize()
        kwargs.pop("archive")
        kwargs["casda_conn_id"] = kwargs.pop("archive_conn_id")
        return path, kwargs
