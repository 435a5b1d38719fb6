"""CasdaHook: an Airflow connection of type `casda` -> CASDA clients (sync for tasks, async for triggers)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from beampipe_provider.archive.tap import AsyncTapClient, TapClient

PUBLIC_TAP_URL = "https://casda.csiro.au/casda_vo_tools/tap"
PUBLIC_SODA_URL = "https://casda.csiro.au/casda_data_access"
PUBLIC_LOGIN_URL = "https://data.csiro.au/casda_vo_proxy/vo/tap/availability"


@dataclass(frozen=True)
class CasdaEndpoints:
    tap_url: str = PUBLIC_TAP_URL
    soda_url: str = PUBLIC_SODA_URL
    login_url: str = PUBLIC_LOGIN_URL
    username: str | None = None
    password: str | None = None  # OPAL; never logged, never in XCom or trigger kwargs

    def __repr__(self) -> str:
        return f"CasdaEndpoints(tap_url={self.tap_url!r}, soda_url={self.soda_url!r}, username={self.username!r})"


def endpoints_from_connection(conn: Any) -> CasdaEndpoints:
    extra = conn.extra_dejson
    return CasdaEndpoints(
        tap_url=extra.get("tap_url") or PUBLIC_TAP_URL,
        soda_url=extra.get("soda_url") or PUBLIC_SODA_URL,
        login_url=extra.get("login_url") or PUBLIC_LOGIN_URL,
        username=conn.login or None,
        password=conn.password or None,
    )


class CasdaHook(BaseHook):
    """CASDA endpoints and OPAL credentials from a `casda` connection; without `casda_default`, public CASDA."""

    conn_name_attr = "casda_conn_id"
    default_conn_name = "casda_default"
    conn_type = "casda"
    hook_name = "CASDA"

    def __init__(self, casda_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.casda_conn_id = casda_conn_id

    def get_endpoints(self) -> CasdaEndpoints:
        try:
            return endpoints_from_connection(self.get_connection(self.casda_conn_id))
        except AirflowNotFoundException:
            if self.casda_conn_id != self.default_conn_name:
                raise
            return CasdaEndpoints()

    async def aget_endpoints(self) -> CasdaEndpoints:
        try:
            return endpoints_from_connection(await self.aget_connection(self.casda_conn_id))
        except AirflowNotFoundException:
            if self.casda_conn_id != self.default_conn_name:
                raise
            return CasdaEndpoints()

    def get_tap_client(self) -> TapClient:
        return TapClient(self.get_endpoints().tap_url)

    async def aget_tap_client(self) -> AsyncTapClient:
        # Building an HTTP client loads the CA bundle from disk: keep that off the triggerer's event loop.
        return await asyncio.to_thread(AsyncTapClient, (await self.aget_endpoints()).tap_url)

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.get_tap_client().query("SELECT TOP 1 opal_code FROM casda.project", 1)
        except Exception as exc:
            return False, str(exc)
        return True, "CASDA TAP answered"
