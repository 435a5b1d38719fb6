"""Where an archive's credentials may go: only to the hosts of the connection's configured endpoints, and only
over https, except to loopback endpoints when the connection explicitly allows it (`allow_http_loopback: true`,
for emulators and tests). Every adapter asks here before it attaches credentials to a request."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> tuple[str, int | None]:
    """(host, port) of `url`, the port made explicit for http(s): https://a and https://a:443 are one host."""
    parsed = httpx.URL(url)
    return parsed.host.lower(), parsed.port or DEFAULT_PORTS.get(parsed.scheme)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CredentialScope:
    hosts: frozenset[tuple[str, int | None]]
    allow_http_loopback: bool = False

    @classmethod
    def of(cls, endpoints: Iterable[str | None], *, allow_http_loopback: bool = False) -> CredentialScope:
        return cls(frozenset(host_of(u) for u in endpoints if u), allow_http_loopback)

    def refusal(self, url: str) -> str | None:
        """Why credentials may not be sent to `url`, or None when they may."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            return f"not a URL ({exc})"
        if parsed.userinfo:
            return "the URL carries credentials of its own"
        if host_of(url) not in self.hosts:
            return f"{parsed.host}:{host_of(url)[1]} is not one of the connection's endpoints"
        if parsed.scheme == "https":
            return None
        if parsed.scheme == "http" and is_loopback(parsed.host) and self.allow_http_loopback:
            return None
        return f"credentials go over https only ({parsed.scheme}://{parsed.host}" + (
            "; a loopback endpoint needs the connection's allow_http_loopback)" if is_loopback(parsed.host) else ")"
        )

    def allows(self, url: str) -> bool:
        return self.refusal(url) is None
