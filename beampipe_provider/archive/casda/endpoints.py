"""Where CASDA is and who logs in: from a `casda` connection's fields, else public CASDA without credentials."""

from __future__ import annotations

from dataclasses import dataclass

from beampipe_provider.archive.base import ConnectionFields
from beampipe_provider.archive.credentials import CredentialScope

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
    allow_http_loopback: bool = False  # credentials over plain http to a loopback endpoint (emulators, tests)

    def __repr__(self) -> str:
        return f"CasdaEndpoints(tap_url={self.tap_url!r}, soda_url={self.soda_url!r}, username={self.username!r})"

    @classmethod
    def of(cls, connection: ConnectionFields) -> CasdaEndpoints:
        extra = connection.extra
        return cls(
            tap_url=extra.get("tap_url") or PUBLIC_TAP_URL,
            soda_url=extra.get("soda_url") or PUBLIC_SODA_URL,
            login_url=extra.get("login_url") or PUBLIC_LOGIN_URL,
            username=connection.login or None,
            password=connection.password or None,
            allow_http_loopback=extra.get("allow_http_loopback") is True,
        )

    def credential_scope(self) -> CredentialScope:
        """The OPAL credentials go to the hosts of these endpoints only, over https (see archive.credentials)."""
        return CredentialScope.of(
            (self.tap_url, self.soda_url, self.login_url), allow_http_loopback=self.allow_http_loopback
        )
