"""Staging on a generic ObsCore service: each product's DataLink document, then its `#this` rows.

A `#this` row with an access_url is a direct link; a `#this` row whose service_def names a SODA async descriptor is
staged by a UWS job (one job per service for all the run's products, so a run of 100 products polls one queue).
A product's access_url that is not a DataLink document (its response is not a VOTable) is itself a direct link:
only its headers are read, never its bytes.

Credentials (Basic) go only to the origins of the survey's `tap_url` and `datalink_url`, over https (plain http only
to a loopback endpoint the connection allows with `allow_http_loopback`); every other host (a mirror, a presigned
store, a SODA service elsewhere) is asked without them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from beampipe_provider.archive.base import ConnectionFields, FetchItem, Verification
from beampipe_provider.archive.credentials import CredentialScope
from beampipe_provider.archive.datalink import SODA_ASYNC, THIS, Link, ServiceDescriptor, is_datalink, parse_datalink
from beampipe_provider.archive.errors import ArchiveUnavailable, StagingFailed, UnsafeFileName
from beampipe_provider.archive.fetch import staged_names
from beampipe_provider.archive.obscore.discovery import ObscoreRules
from beampipe_provider.archive.uws import JobResult, UwsRunner, checked, origin
from beampipe_provider.ledger.records import DatasetRecord

VOTABLE_TYPES = ("application/x-votable+xml", "text/xml", "application/xml")


@dataclass(frozen=True)
class _Pending:
    """A product waiting for a SODA job: its DataLink row and the descriptor to run."""

    dataset: DatasetRecord
    link: Link
    service: ServiceDescriptor


class ObscoreStager:
    def __init__(
        self,
        *,
        rules: ObscoreRules,
        connection: ConnectionFields,
        client: httpx.Client,
        poll_interval_s: float = 2.0,
        max_poll_interval_s: float = 30.0,
    ) -> None:
        self._client = client
        self._trusted = {origin(u) for u in (rules.tap_url, rules.datalink_url) if u}
        # ... and over https only, but to a loopback endpoint the connection allows (emulators, tests)
        self._scope = CredentialScope.of(
            (rules.tap_url, rules.datalink_url), allow_http_loopback=connection.extra.get("allow_http_loopback") is True
        )
        login, password = connection.login, connection.password
        self._auth = httpx.BasicAuth(login, password) if login and password else None
        self._uws = UwsRunner(client, poll_interval_s=poll_interval_s, max_poll_interval_s=max_poll_interval_s)
        self._datalink_url = rules.datalink_url

    def __repr__(self) -> str:
        return "ObscoreStager(<credentials hidden>)"

    def auth_for(self, url: str) -> httpx.Auth | None:
        return self._auth if origin(url) in self._trusted and self._scope.allows(url) else None

    def plan(self, datasets: Sequence[DatasetRecord], *, timeout_s: float) -> tuple[list[FetchItem], list[str]]:
        """(fetch items, UWS job URLs) for `datasets`."""
        deadline = time.monotonic() + timeout_s
        items: list[FetchItem] = []
        pending: list[_Pending] = []
        for dataset in datasets:
            direct, staged = self._negotiate(dataset)
            items.extend(direct)
            pending.extend(staged)
        jobs = []
        for service_url in sorted({p.service.access_url or "" for p in pending}):
            group = [p for p in pending if p.service.access_url == service_url]
            job, results = self._run(service_url, group, deadline)
            jobs.append(job)
            items.extend(_items_of(results, group))
        names = [item.local_name for item in items]
        if clashes := sorted({n for n in names if names.count(n) > 1}):
            raise UnsafeFileName(f"several products share the file name(s) {', '.join(clashes)}: refusing to overwrite")
        return items, jobs

    def _negotiate(self, dataset: DatasetRecord) -> tuple[list[FetchItem], list[_Pending]]:
        url = self._links_url(dataset)
        try:
            with self._client.stream("GET", url, auth=self.auth_for(url)) as response:
                checked(response, f"DataLink for {dataset.dataset_id}")
                kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not (is_datalink(response.headers.get("Content-Type")) or kind in VOTABLE_TYPES):
                    # The access_url is the product itself: its headers are all we needed.
                    length = response.headers.get("Content-Length")
                    size = int(length) if length and length.isdigit() else None
                    return [_item(dataset, url, size)], []
                content = response.read()
        except httpx.HTTPError as exc:
            raise ArchiveUnavailable(f"DataLink for {dataset.dataset_id} failed: {exc!r}") from exc
        document = parse_datalink(content)
        rows = [link for link in document.links if link.semantics == THIS]
        if not rows:
            raise StagingFailed(f"DataLink for {dataset.dataset_id} has no #this row")
        direct: list[FetchItem] = []
        staged: list[_Pending] = []
        for link in rows:
            if link.error_message:
                raise StagingFailed(f"DataLink for {dataset.dataset_id}: {link.error_message}")
            if link.access_url:
                direct.append(_item(dataset, link.access_url, link.content_length))
                continue
            service = document.services.get(link.service_def or "")
            if service is None or service.standard_id != SODA_ASYNC or not service.access_url:
                raise StagingFailed(
                    f"DataLink for {dataset.dataset_id}: #this needs service {link.service_def!r}, not a SODA async one"
                )
            staged.append(_Pending(dataset, link, service))
        return direct, staged

    def _links_url(self, dataset: DatasetRecord) -> str:
        if dataset.access_url:
            return dataset.access_url
        if self._datalink_url:
            return str(httpx.URL(self._datalink_url, params={"ID": dataset.dataset_id}))
        raise StagingFailed(f"{dataset.dataset_id} has no access_url and the survey names no datalink_url")

    def _run(self, service_url: str, group: list[_Pending], deadline: float) -> tuple[str, list[JobResult]]:
        params = [param for p in group for param in p.service.params_for(p.link)]
        left = max(deadline - time.monotonic(), 0.0)
        return self._uws.run(service_url, params, auth=self.auth_for(service_url), timeout_s=left)


def _item(dataset: DatasetRecord, href: str, size: int | None) -> FetchItem:
    """Verified by the digest the server sends with the file if it sends one (see fetch), else by size: the
    verification recorded on the fetched file says which."""
    archive_name, local_name = staged_names(href)
    return FetchItem(
        dataset_id=dataset.dataset_id,
        url=href,
        local_name=local_name,
        archive_name=archive_name,
        size=size,
        verification=Verification.SIZE if size is not None else Verification.NONE,
    )


def _items_of(results: list[JobResult], group: list[_Pending]) -> list[FetchItem]:
    """Each result paired with its product: by the result's id (the ID sent), else by file name, else alone."""
    by_id = {p.link.id: p.dataset for p in group}
    by_name = {p.dataset.filename: p.dataset for p in group if p.dataset.filename}
    items = []
    for result in results:
        name = staged_names(result.href)[0]
        dataset = by_id.get(result.id) or by_name.get(name) or (group[0].dataset if len(group) == 1 else None)
        if dataset is None:
            raise StagingFailed(f"the staging job returned {name}, which none of the run's products claims")
        items.append(_item(dataset, result.href, result.size))
    return items
