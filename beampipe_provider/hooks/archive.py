"""ArchiveHook: an Airflow connection -> the archive adapter named by a survey (entry point `beampipe.archives`).

The adapter is core code; this hook only turns the connection into plain fields. Without a connection id the adapter
uses its public defaults and no credentials; a missing `casda_default` means public CASDA, as for CasdaHook."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from beampipe_provider.archive.base import Archive, ConnectionFields, load_archive
from beampipe_provider.hooks.connections import aget_connection

CASDA_DEFAULT = "casda_default"


def connection_fields(conn: Any) -> ConnectionFields:
    return ConnectionFields(host=conn.host, login=conn.login, password=conn.password, extra=conn.extra_dejson)


class ArchiveHook(BaseHook):
    """`archive`: the adapter's name (casda, obscore); `rules`: the survey's rules for it (validated by the
    adapter); `archive_conn_id`: endpoints and credentials (a `casda` connection, or any with login/password)."""

    conn_name_attr = "archive_conn_id"
    default_conn_name = CASDA_DEFAULT
    conn_type = "beampipe_archive"
    hook_name = "Archive (IVOA ObsCore/DataLink)"

    def __init__(
        self,
        archive: str = "casda",
        *,
        archive_conn_id: str | None = CASDA_DEFAULT,
        rules: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.archive = archive
        self.archive_conn_id = archive_conn_id
        self.rules = dict(rules or {})

    def _missing_is_public(self, exc: AirflowNotFoundException) -> ConnectionFields:
        if self.archive_conn_id != CASDA_DEFAULT:
            raise exc
        return ConnectionFields()

    def get_fields(self) -> ConnectionFields:
        if not self.archive_conn_id:
            return ConnectionFields()
        try:
            return connection_fields(self.get_connection(self.archive_conn_id))
        except AirflowNotFoundException as exc:
            return self._missing_is_public(exc)

    async def aget_fields(self) -> ConnectionFields:
        if not self.archive_conn_id:
            return ConnectionFields()
        try:
            return connection_fields(await aget_connection(self.archive_conn_id))
        except AirflowNotFoundException as exc:
            return self._missing_is_public(exc)

    def get_archive(self) -> Archive:
        return load_archive(self.archive, rules=self.rules, connection=self.get_fields())

    async def aget_archive(self) -> Archive:
        fields = await self.aget_fields()
        # Loading an entry point reads package metadata from disk: off the triggerer's event loop.
        return await asyncio.to_thread(load_archive, self.archive, rules=self.rules, connection=fields)
