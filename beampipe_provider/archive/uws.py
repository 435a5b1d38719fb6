"""A generic IVOA UWS 1.1 job client (as SODA async uses it): create, phase=RUN, poll with backoff, results.

Result hrefs are returned exactly as the service wrote them (pre-signed URLs must not be rebuilt), with the
`size` UWS 1.1 allows on a result, where given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

import httpx

from beampipe_provider.archive.errors import ArchiveUnavailable, NotAuthorised, StagingFailed, StagingTimeout

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
WAITING = frozenset({"PENDING", "QUEUED", "SUSPENDED", "EXECUTING"})


@dataclass(frozen=True)
class JobResult:
    id: str
    href: str
    size: int | None = None


@dataclass(frozen=True)
class JobStatus:
    phase: str
    results: list[JobResult]
    message: str | None


def parse_job(content: bytes) -> JobStatus:
    try:
        job = ElementTree.fromstring(content)  # noqa: S314 (a UWS document from the archive; no DTDs expanded)
    except ElementTree.ParseError as exc:
        raise ArchiveUnavailable(f"UWS job document is malformed: {exc}") from exc
    results = []
    for result in job.iter(f"{UWS}result"):
        if href := result.get(XLINK_HREF):
            size = result.get("size")
            results.append(JobResult(result.get("id", ""), href, int(size) if size and size.isdigit() else None))
    message = job.findtext(f"{UWS}errorSummary/{UWS}message")
    return JobStatus((job.findtext(f"{UWS}phase") or "").strip(), results, message.strip() if message else None)


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: where credentials may go is decided per origin."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def checked(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code in (401, 403):
        raise NotAuthorised(f"{what}: the archive refused the credentials (HTTP {response.status_code})")
    if response.status_code >= 500:
        raise ArchiveUnavailable(f"{what}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise StagingFailed(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
    return response


@dataclass
class UwsRunner:
    """Runs one job at a time on `client`. `auth` is decided by the caller, per service (never to other hosts)."""

    client: httpx.Client
    poll_interval_s: float = 5.0
    max_poll_interval_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def run(
        self, service_url: str, params: Sequence[tuple[str, str]], *, auth: httpx.Auth | None, timeout_s: float
    ) -> tuple[str, list[JobResult]]:
        """(job URL, results) of a job created at `service_url` with `params`, once COMPLETED."""
        deadline = time.monotonic() + timeout_s
        form: dict[str, list[str]] = {}
        for name, value in params:  # repeated names kept: SODA takes one ID per product
            form.setdefault(name, []).append(value)
        created = checked(self._call("POST", service_url, auth, data=form), "UWS job creation")
        job_url = created.headers.get("Location") if created.status_code in (302, 303) else str(created.url)
        if not job_url:
            raise StagingFailed("UWS job creation answered without a job location")
        if origin(job_url) != origin(service_url):
            auth = None  # the job lives elsewhere: the credentials stay with the service they were meant for
        checked(self._call("POST", f"{job_url}/phase", auth, data={"PHASE": "RUN"}), "UWS job start")
        interval = self.poll_interval_s
        while True:
            status = parse_job(checked(self._call("GET", job_url, auth), "UWS job status").content)
            if status.phase == "COMPLETED":
                return job_url, status.results
            if status.phase not in WAITING:
                raise StagingFailed(f"job {job_url} ended {status.phase or 'without a phase'}: {status.message or ''}")
            if time.monotonic() + interval > deadline:
                raise StagingTimeout(f"job {job_url} still {status.phase} at the deadline")
            self.sleep(interval)
            interval = min(interval * 2, self.max_poll_interval_s)

    def _call(self, method: str, url: str, auth: httpx.Auth | None, **kwargs: object) -> httpx.Response:
        try:
            return self.client.request(method, url, auth=auth, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"{method} {httpx.URL(url).copy_with(query=None)} failed: {exc!r}") from exc
