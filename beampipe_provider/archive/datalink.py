"""IVOA DataLink 1.1 documents, read generically: the links table and the service descriptors it refers to.

Any archive's staging can use it (CASDA's rows carry an extra `authenticated_id_token` column: every column is
kept in `row`).
A service descriptor's input parameter either has a fixed `value` or a `ref` to a column of the links table, whose
value in the chosen row is sent (DataLink 1.1, section 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from beampipe_provider.archive.errors import ArchiveUnavailable, StagingFailed
from beampipe_provider.archive.tap import read_votable

CONTENT_TYPE = "application/x-votable+xml;content=datalink"
THIS = "#this"
SODA_ASYNC = "ivo://ivoa.net/std/SODA#async-1.0"
SODA_SYNC = "ivo://ivoa.net/std/SODA#sync-1.0"


@dataclass(frozen=True)
class Link:
    id: str
    access_url: str | None = None
    service_def: str | None = None
    error_message: str | None = None
    semantics: str | None = None
    description: str | None = None
    content_type: str | None = None
    content_length: int | None = None
    row: dict[str, Any] = field(default_factory=dict)  # every column, by name and by FIELD ID


@dataclass(frozen=True)
class InputParam:
    name: str
    value: str | None = None
    ref: str | None = None  # the ID of a links-table column whose value in the row is sent


@dataclass(frozen=True)
class ServiceDescriptor:
    id: str
    access_url: str | None
    standard_id: str | None
    input_params: list[InputParam] = field(default_factory=list)

    def params_for(self, link: Link) -> list[tuple[str, str]]:
        """The request parameters for `link`: fixed values, and referenced columns read from the link's row."""
        found = []
        for param in self.input_params:
            value = link.row.get(param.ref) if param.ref else param.value
            if value not in (None, ""):
                found.append((param.name, str(value)))
        return found


@dataclass(frozen=True)
class DataLinkDocument:
    links: list[Link]
    services: dict[str, ServiceDescriptor]

    def for_id(self, identifier: str) -> list[Link]:
        return [link for link in self.links if link.id == identifier]


def is_datalink(content_type: str | None) -> bool:
    return bool(content_type) and "content=datalink" in str(content_type).replace(" ", "").lower()


def _plain(value: Any) -> Any:
    import numpy as np

    if value is np.ma.masked or value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return None if value == "" else value


def _service(resource: Any) -> ServiceDescriptor:
    params = {p.name: _plain(p.value) for p in resource.params}
    inputs = [
        InputParam(p.name, value=_plain(p.value), ref=getattr(p, "ref", None) or None)
        for group in resource.groups
        if group.name == "inputParams"
        for p in group.entries
        if hasattr(p, "value")
    ]
    return ServiceDescriptor(str(resource.ID), params.get("accessURL"), params.get("standardID"), inputs)


def _links(table: Any) -> list[Link]:
    links = []
    for values in table.array:
        cells = [_plain(values[i]) for i in range(len(table.fields))]
        named = {f.name: v for f, v in zip(table.fields, cells, strict=True)}
        # A descriptor's `ref` names a FIELD's ID; services often give no ID, so the name is a key too.
        row = {**named, **{f.ID: v for f, v in zip(table.fields, cells, strict=True) if f.ID}}
        length = named.get("content_length")
        links.append(
            Link(
                id=str(named.get("ID") or ""),
                access_url=named.get("access_url"),
                service_def=named.get("service_def"),
                error_message=named.get("error_message"),
                semantics=named.get("semantics"),
                description=named.get("description"),
                content_type=named.get("content_type"),
                content_length=int(length) if length is not None else None,
                row=row,
            )
        )
    return links


def parse_datalink(content: bytes) -> DataLinkDocument:
    """The links and service descriptors of a DataLink document; QUERY_STATUS=ERROR is a refusal."""
    try:
        document = read_votable(content)
    except Exception as exc:  # astropy raises many XML error types for a broken document
        raise ArchiveUnavailable(f"DataLink sent a malformed VOTable: {exc}") from exc
    links: list[Link] = []
    services: dict[str, ServiceDescriptor] = {}
    for resource in document.resources:
        for info in resource.infos:
            if info.name == "QUERY_STATUS" and info.value == "ERROR":
                raise StagingFailed(f"DataLink refused: {(info.content or '').strip()}")
        if resource.type == "results" and resource.tables:
            links.extend(_links(resource.tables[0]))
        elif resource.type == "meta" and resource.ID:
            services[str(resource.ID)] = _service(resource)
    return DataLinkDocument(links, services)
