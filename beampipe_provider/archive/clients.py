"""The HTTP clients an archive adapter holds: one blocking client for tasks and one async TAP client for triggers,
made on first use and closed with the adapter. Adapters of IVOA services share it (CASDA, ObsCore)."""

from __future__ import annotations

import asyncio

import httpx

from beampipe_provider.archive.tap import AsyncTapClient, TapClient

HTTP_TIMEOUT_S = 120.0


class ArchiveClients:
    """Mixed into an adapter whose TAP service is at `tap_url`."""

    _http: httpx.Client | None = None
    _async_tap: AsyncTapClient | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=HTTP_TIMEOUT_S)
        return self._http

    def tap(self, tap_url: str) -> TapClient:
        return TapClient(tap_url, client=self.http)

    async def async_tap(self, tap_url: str) -> AsyncTapClient:
        if self._async_tap is None:  # building an HTTP client reads the CA bundle: off the event loop
            self._async_tap = await asyncio.to_thread(AsyncTapClient, tap_url)
        return self._async_tap

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        if self._async_tap is not None:
            await self._async_tap.aclose()
            self._async_tap = None
        self.close()
