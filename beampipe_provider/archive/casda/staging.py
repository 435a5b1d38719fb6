"""Staging through DataLink and SODA: access_url -> authenticated ID token -> async UWS job -> result hrefs.

Result hrefs are returned exactly as the archive wrote them: pre-signed URLs must not be unquoted or rebuilt.
OPAL credentials are passed in (from the Airflow connection), never read from a keyring or a terminal, never logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import httpx

from beampipe_provider.archive.credentials import CredentialScope
from beampipe_provider.archive.errors import ArchiveUnavailable, NotAuthorised, StagingFailed, StagingTimeout
from beampipe_provider.archive.tap import read_votable

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
WAITING = frozenset({"PENDING", "QUEUED", "SUSPENDED", "EXECUTING"})


@dataclass(frozen=True)
class StagedResult:
    """A product the SODA job brought online: where to fetch it (exactly as the archive wrote it) and its checksum."""

    href: str
    checksum_href: str | None


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code in (401, 403):
        raise NotAuthorised(f"{what}: CASDA refused the OPAL credentials (HTTP {response.status_code})")
    if response.status_code >= 500:
        raise ArchiveUnavailable(f"{what}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise StagingFailed(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
    return response


def parse_datalink(content: bytes) -> tuple[str, str]:
    """(async service URL, authenticated ID token) from a DataLink document."""
    document = read_votable(content)
    token = service = None
    for resource in document.resources:
        if resource.type == "results" and resource.tables:
            for row in resource.tables[0].array:
                if str(row["service_def"]) == "async_service":
                    token = str(row["authenticated_id_token"])
        if resource.type == "meta" and resource.ID == "async_service":
            service = next((str(p.value) for p in resource.params if p.name == "accessURL"), None)
        for info in resource.infos:
            if info.name == "QUERY_STATUS" and info.value == "ERROR":
                raise StagingFailed(f"DataLink refused: {(info.content or '').strip()}")
    if not token or not service:
        raise StagingFailed("DataLink offered no async_service for this product (no access?)")
    return service, token


def parse_job(content: bytes) -> tuple[str, list[str], str | None]:
    """(phase, result hrefs, error message) of a UWS job document."""
    try:
        job = ElementTree.fromstring(content)  # noqa: S314 (a UWS document from the archive; no DTDs expanded)
    except ElementTree.ParseError as exc:
        raise ArchiveUnavailable(f"SODA job document is malformed: {exc}") from exc
    phase = (job.findtext(f"{UWS}phase") or "").strip()
    hrefs = [r.get(XLINK_HREF, "") for r in job.iter(f"{UWS}result") if r.get(XLINK_HREF)]
    message = job.findtext(f"{UWS}errorSummary/{UWS}message")
    return phase, hrefs, message.strip() if message else None


def pair_checksums(hrefs: Sequence[str]) -> list[StagedResult]:
    """Match each file with its `.checksum` companion (compared on the path, so query strings may differ)."""

    def path(href: str) -> str:
        return httpx.URL(href).path

    checksums = {path(h).removesuffix(".checksum"): h for h in hrefs if path(h).endswith(".checksum")}
    return [StagedResult(h, checksums.get(path(h))) for h in hrefs if not path(h).endswith(".checksum")]


def _shown(url: str) -> str:
    """A URL for a message: without its query (a token may be there) or any userinfo."""
    try:
        return str(httpx.URL(url).copy_with(query=None, username=None, password=None))
    except httpx.InvalidURL:
        return "<not a URL>"


class CasdaStager:
    def __init__(
        self,
        *,
        username: str,
        password: str,
        scope: CredentialScope,
        client: httpx.Client | None = None,
        poll_interval_s: float = 5.0,
        max_poll_interval_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._auth = httpx.BasicAuth(username, password)
        self._scope = scope  # where the credentials may go: checked before each request that carries them
        self._client = client or httpx.Client(timeout=60.0)
        self._poll = poll_interval_s
        self._max_poll = max_poll_interval_s
        self._sleep = sleep

    def __repr__(self) -> str:
        return "CasdaStager(<credentials hidden>)"

    def stage(self, access_urls: Sequence[str], *, timeout_s: float) -> list[StagedResult]:
        """Stage every product in one SODA job and wait (with backoff) until it completes or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        service, tokens = None, []
        for url in access_urls:
            if why := self._scope.refusal(url):
                raise NotAuthorised(f"not sending the OPAL credentials to {_shown(url)}: {why}")
            response = _check(self._get(url, auth=self._auth), f"DataLink {_shown(url)}")
            service, token = parse_datalink(response.content)
            tokens.append(token)
        if service is None:
            raise StagingFailed("nothing to stage: no access URLs")
        created = _check(self._post(service, params=[("ID", t) for t in tokens]), "SODA job creation")
        job_url = created.headers.get("Location") if created.status_code in (302, 303) else str(created.url)
        if not job_url:
            raise StagingFailed("SODA job creation answered without a job location")
        _check(self._post(f"{job_url}/phase", data={"phase": "RUN"}), "SODA job start")
        return self._wait(job_url, deadline)

    def _wait(self, job_url: str, deadline: float) -> list[StagedResult]:
        interval = self._poll
        while True:
            phase, hrefs, message = parse_job(_check(self._get(job_url), "SODA job status").content)
            if phase == "COMPLETED":
                return pair_checksums(hrefs)
            if phase not in WAITING:
                raise StagingFailed(f"CASDA staging job {job_url} ended {phase or 'without a phase'}: {message or ''}")
            if time.monotonic() + interval > deadline:
                raise StagingTimeout(f"CASDA staging job {job_url} still {phase} at the deadline")
            self._sleep(interval)
            interval = min(interval * 2, self._max_poll)

    def _get(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.get(url, **kwargs)
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"GET {httpx.URL(url).copy_with(query=None)} failed: {exc!r}") from exc

    def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.post(url, **kwargs)
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"POST {httpx.URL(url).copy_with(query=None)} failed: {exc!r}") from exc
