"""Connection lookup for triggers, with the one gap of Airflow 3.3 it works around.

In `airflow dags test` a deferred task's trigger runs inline, outside any task, where the Task SDK looks for
connections only in environment variables and external secrets backends (`ensure_secrets_backend_loaded`'s fallback
chain, without the metastore): a connection stored in Airflow's database, as `airflow connections add` stores it, is
"not defined" there, and every poll of the trigger fails. Where the SDK finds nothing, the metastore is asked too;
in a real triggerer the SDK's own lookup answers first."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException


async def aget_connection(conn_id: str) -> Any:
    try:
        return await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        found = await asyncio.to_thread(_from_metastore, conn_id)
        if found is None:
            raise
        return found


def _from_metastore(conn_id: str) -> Any:
    try:
        from airflow.secrets.metastore import MetastoreBackend

        return MetastoreBackend().get_connection(conn_id)
    except Exception:  # no database here (a worker talks to the API server only): the SDK's answer stands
        return None
