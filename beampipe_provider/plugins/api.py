"""The JSON API under /beampipe/api: sources (list, get, create, bulk, enable, disable) and runs (list, get)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor

from beampipe_provider.common.limits import MAX_AFTER, MAX_SEARCH_CHARS
from beampipe_provider.ledger.record_files import RecordFileError, SourceIn
from beampipe_provider.ledger.states import RunState
from beampipe_provider.plugins import runs
from beampipe_provider.plugins.auth import WRITE, require_read
from beampipe_provider.plugins.deps import AirflowBase, Ledger, SurveyFilter, SurveyPath, run_or_404, valid_source_id
from beampipe_provider.plugins.models import (
    EnabledChanged,
    ProblemOut,
    Registered,
    Rejected,
    RunDetail,
    RunPage,
    SourceCreated,
    SourceIds,
    SourceOut,
    SourcePage,
)
from beampipe_provider.plugins.uploads import SourceList, headline, read_body


def _error(description: str) -> dict[str, Any]:
    return {"model": Rejected, "description": description}


# Every error has one shape (`Rejected`: a `detail` string and the `problems`, each naming its field).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("a value past a bound (see the README's Security model), or with control characters"),
    401: _error("no login, or a token that does not verify"),
    403: _error("the login may not do this"),
    404: _error("nothing at this path (a path part that no route takes, e.g. with a line break)"),
    422: _error("a field that is not valid, each named in `problems`"),
}
WRITES: dict[int | str, dict[str, Any]] = {
    413: _error("a body over the size bound"),
    415: _error("a body of a media type this route does not read"),
}


class _SourceIdSegment(Convertor[str]):
    """A source ID path part that is not one of the verbs beside it: GET .../bulk is a 405, not source "bulk"."""

    regex = r"(?!(?:bulk|enable|disable)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("beampipe_source", _SourceIdSegment())
router = APIRouter(prefix="/api", dependencies=[Depends(require_read)], responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
After = Annotated[int | None, Query(ge=0, le=MAX_AFTER, description="`next_after` of the previous page")]
Search = Annotated[str | None, Query(max_length=MAX_SEARCH_CHARS, description="substring of the source ID")]

_LIST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A source list as the `beampipe sources import` command reads it: CSV with a header "
        "(source_id or Name, optional enabled, ra, dec, vsys, description) or JSON (a list of such objects, "
        'or {"sources": [...]}), as the body or as the `file` of a multipart form.',
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}},
                        {
                            "type": "object",
                            "properties": {"sources": {"type": "array", "items": {"type": "object"}}},
                            "required": ["sources"],
                        },
                    ]
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.get("/sources", tags=["sources"])
def list_sources(
    store: Ledger,
    survey: SurveyFilter,
    enabled: Annotated[bool | None, Query(description="only enabled (true) or disabled (false) sources")] = None,
    search: Search = None,
    limit: Limit = 100,
    after: After = None,
) -> SourcePage:
    page = store.list_sources(survey, enabled=enabled, search=search, limit=limit, after=after)
    return SourcePage(items=[SourceOut.of(s) for s in page.items], next_after=page.next_after)


@router.get(
    "/sources/{survey}/{source_id:beampipe_source}", tags=["sources"], responses={404: _error("not registered")}
)
def get_source(store: Ledger, survey: SurveyPath, source_id: str) -> SourceOut:
    source = store.get_source(survey, valid_source_id(source_id))
    if source is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{source_id!r} is not registered in survey {survey}")
    return SourceOut.of(source)


@router.post(
    "/sources/{survey}",
    tags=["sources"],
    dependencies=WRITE,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": SourceCreated, "description": "registered already: left as it was"}, **WRITES},
)
def create_source(store: Ledger, survey: SurveyPath, body: SourceIn, response: Response) -> SourceCreated:
    """Register one source (idempotent: an existing source keeps its enabled flag and metadata)."""
    record = body.to_record()
    created = bool(store.register_sources(survey, [record]).created)
    if not created:
        response.status_code = status.HTTP_200_OK
    source = store.get_source(survey, record.source_id)
    assert source is not None  # registered just now or before; sources are never deleted
    return SourceCreated(created=created, source=SourceOut.of(source))


@router.post(
    "/sources/{survey}/bulk",
    tags=["sources"],
    dependencies=WRITE,
    openapi_extra=_LIST_BODY,
    response_model=Registered,
    responses={422: _error("bad lines, each named; nothing registered"), **WRITES},
)
def register_sources(
    store: Ledger,
    survey: SurveyPath,
    upload: Annotated[SourceList, Depends(read_body)],
    disabled: Annotated[bool, Query(description="register new sources disabled")] = False,
) -> Registered | JSONResponse:
    """Register a source list, all or nothing."""
    try:
        records = upload.records(disabled=disabled)
    except RecordFileError as exc:
        return rejected(exc)
    result = store.register_sources(survey, records)
    return Registered(survey=survey, created=result.created, existing=result.existing)


def rejected(exc: RecordFileError) -> JSONResponse:
    body = Rejected(detail=headline(exc), problems=[ProblemOut.of(p) for p in exc.problems])
    return JSONResponse(body.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _set_enabled(store: Ledger, survey: str, body: SourceIds, enabled: bool) -> EnabledChanged:
    changed = store.set_enabled(survey, body.source_ids, enabled)  # UnknownSources: 404, nothing changed
    return EnabledChanged(survey=survey, enabled=enabled, changed=changed)


_UNKNOWN: dict[int | str, dict[str, Any]] = {404: _error("some sources are not registered; nothing changed"), **WRITES}


@router.post("/sources/{survey}/enable", tags=["sources"], dependencies=WRITE, responses=_UNKNOWN)
def enable_sources(store: Ledger, survey: SurveyPath, body: SourceIds) -> EnabledChanged:
    return _set_enabled(store, survey, body, True)


@router.post("/sources/{survey}/disable", tags=["sources"], dependencies=WRITE, responses=_UNKNOWN)
def disable_sources(store: Ledger, survey: SurveyPath, body: SourceIds) -> EnabledChanged:
    return _set_enabled(store, survey, body, False)


@router.get("/runs", tags=["runs"])
def list_runs(
    store: Ledger,
    base: AirflowBase,
    survey: SurveyFilter,
    state: RunState | None = None,
    source_id: Annotated[str | None, Query(max_length=MAX_SEARCH_CHARS)] = None,
    limit: Limit = 100,
    after: After = None,
) -> RunPage:
    page = store.list_runs(survey, state=state, source_id=source_id, limit=limit, after=after)
    return RunPage(items=[runs.summary(store, r, base) for r in page.items], next_after=page.next_after)


@router.get("/runs/{run_key}", tags=["runs"], responses={404: _error("no such run")})
def get_run(store: Ledger, base: AirflowBase, run_key: str) -> RunDetail:
    """One run with its datasets and event history; `run_key` may be a unique prefix (8+ characters)."""
    return run_or_404(store, run_key, base)
