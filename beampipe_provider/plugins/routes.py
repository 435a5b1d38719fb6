"""The app's routes: the API, the pages, the docs (all behind the login), and how errors are answered."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from beampipe_provider.ledger.errors import LedgerError, SchemaNotCurrent, UnknownRun, UnknownSources
from beampipe_provider.plugins import api, pages
from beampipe_provider.plugins.auth import require_read
from beampipe_provider.plugins.deps import plugin_base

docs = APIRouter(dependencies=[Depends(require_read)], include_in_schema=False)


@docs.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    # Served under the mount point, so "Try it out" must call /beampipe/api/..., not /api/...
    schema = {**request.app.openapi(), "servers": [{"url": plugin_base(request) or "/"}]}
    return JSONResponse(schema)


@docs.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=f"{plugin_base(request)}/openapi.json", title="Beampipe API")


def _wants_html(request: Request) -> bool:
    path = request.url.path.removeprefix(plugin_base(request))
    return not (path.startswith("/api/") or path == "/openapi.json")


def _login_url(request: Request) -> str:
    from airflow.api_fastapi.app import get_auth_manager

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return str(get_auth_manager().get_url_login(next_url=here))


async def handle_error(request: Request, exc: Exception) -> Response:
    """Errors as JSON for the API and the schema, as a page (with a login link for 401) for the pages."""
    if isinstance(exc, RequestValidationError):
        if not _wants_html(request):
            return await request_validation_exception_handler(request, exc)
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return pages.error_page(request, status.HTTP_422_UNPROCESSABLE_CONTENT, message, None)
    if isinstance(exc, LedgerError):
        exc = HTTPException(_ledger_status(exc), str(exc))
    assert isinstance(exc, HTTPException)
    if not _wants_html(request):
        return await http_exception_handler(request, exc)
    login = _login_url(request) if exc.status_code == status.HTTP_401_UNAUTHORIZED else None
    return pages.error_page(request, exc.status_code, str(exc.detail), login)


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
