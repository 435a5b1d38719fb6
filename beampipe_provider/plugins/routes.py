"""The app's routes: the API, the pages, the docs (all behind the login), and how errors are answered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from beampipe_provider.common.limits import InputTooLarge
from beampipe_provider.ledger.errors import LedgerError, SchemaNotCurrent, UnknownRun, UnknownSources
from beampipe_provider.plugins import api, docs_page, pages
from beampipe_provider.plugins.auth import require_read
from beampipe_provider.plugins.deps import plugin_base
from beampipe_provider.plugins.models import ProblemOut, Rejected

docs = APIRouter(dependencies=[Depends(require_read)], include_in_schema=False)


@docs.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    # Served under the mount point, so "Try it out" must call /beampipe/api/..., not /api/...
    schema = {**request.app.openapi(), "servers": [{"url": plugin_base(request) or "/"}]}
    return JSONResponse(schema)


def _wants_html(request: Request) -> bool:
    path = request.url.path.removeprefix(plugin_base(request))
    return not (path.startswith("/api/") or path == "/openapi.json")


def _login_url(request: Request) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return str(get_auth_manager().get_url_login(next_url=here))


def _problem(error: Any) -> ProblemOut:
    where, *field = error["loc"]
    return ProblemOut(where=str(where), field=".".join(map(str, field)) or "-", reason=error["msg"])


def describe(exc: Exception) -> tuple[int, Rejected, Mapping[str, str] | None]:
    """One error shape for every error: a status, `Rejected` (detail, problems) and the headers to send.

    A validation error never echoes the input (it may hold NaN, which JSON cannot carry, or a megabyte)."""
    if isinstance(exc, RequestValidationError):
        problems = [_problem(e) for e in exc.errors()]
        detail = "; ".join(f"{p.where} {p.field}: {p.reason}" for p in problems)
        return status.HTTP_422_UNPROCESSABLE_CONTENT, Rejected(detail=detail, problems=problems), None
    if isinstance(exc, InputTooLarge):
        return status.HTTP_400_BAD_REQUEST, Rejected(detail=str(exc)), None
    if isinstance(exc, LedgerError):
        return _ledger_status(exc), Rejected(detail=str(exc)), None
    assert isinstance(exc, HTTPException)
    return exc.status_code, Rejected(detail=str(exc.detail)), exc.headers


def _allowed(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route whose path matched)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "\x00"})  # no route serves this method: path only
        if match is Match.PARTIAL:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def handle_error(request: Request, exc: Exception) -> Response:
    """Errors as JSON for the API and the schema, as a page (with a login link for 401) for the pages."""
    status_code, body, headers = describe(exc)
    if status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers = {**(headers or {}), "Allow": _allowed(request)}
    if not _wants_html(request):
        return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)
    login = _login_url(request) if status_code == status.HTTP_401_UNAUTHORIZED else None
    return pages.error_page(request, status_code, body.detail, login, headers)


def _ledger_status(exc: LedgerError) -> int:
    if isinstance(exc, UnknownRun | UnknownSources):
        return status.HTTP_404_NOT_FOUND
    if isinstance(exc, SchemaNotCurrent):
        return status.HTTP_503_SERVICE_UNAVAILABLE  # the operator must migrate the ledger first
    return status.HTTP_409_CONFLICT


def install(app: FastAPI) -> None:
    """Attach the routes once (the lifespan may be entered more than once, e.g. in tests)."""
    if getattr(app.state, "beampipe_routes", False):
        return
    app.state.beampipe_routes = True
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(docs)
    app.include_router(docs_page.router)
