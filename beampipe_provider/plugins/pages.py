"""The HTML pages under /beampipe: sources (search, enable/disable, upload) and runs (list, one run).

Plain HTML forms; one small script only for links to Airflow's own pages (static/airflow-links.js). Jinja2
escapes every value (autoescape), and the Content-Security-Policy allows no other script. Forms post to small
endpoints here, which redirect back (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.datastructures import UploadFile

from beampipe_provider.common.limits import MAX_AFTER
from beampipe_provider.ledger.record_files import RecordFileError
from beampipe_provider.ledger.states import RunState
from beampipe_provider.plugins import runs
from beampipe_provider.plugins.auth import WRITE, Reader, may, require_read
from beampipe_provider.plugins.deps import (
    AirflowBase,
    Ledger,
    PluginBase,
    plugin_base,
    run_or_404,
    valid_source_id,
    valid_survey,
)
from beampipe_provider.plugins.models import ProblemOut
from beampipe_provider.plugins.uploads import SourceList, headline, read_file

router = APIRouter(dependencies=[Depends(require_read)], include_in_schema=False, default_response_class=HTMLResponse)

PAGE_SIZE = 50
# Our own script files only (no inline script); inline styles; forms post only here; framed only by Airflow's UI.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
EnabledFilter = Literal["", "enabled", "disabled"]


@cache
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("beampipe_provider.plugins", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
    env.filters["seconds"] = _seconds
    return env


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def render(name: str, context: Mapping[str, Any], status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    html = templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _page(user: Reader, base: PluginBase) -> dict[str, Any]:
    """What every page's layout needs."""
    return {"base": base, "user": user.get_name(), "can_edit": may(user, "PUT")}


Page = Annotated[dict[str, Any], Depends(_page)]


@router.get("/")
def home(base: PluginBase) -> RedirectResponse:
    return RedirectResponse(f"{base}/sources", status_code=status.HTTP_303_SEE_OTHER)


# -- sources ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFilters:
    survey: str = ""
    search: str = ""
    enabled: EnabledFilter = ""
    after: int | None = None

    def query(self, **changes: Any) -> str:
        values = {**self.__dict__, **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _filters(
    survey: Annotated[str, Query(max_length=64)] = "",
    search: Annotated[str, Query(max_length=64)] = "",
    enabled: EnabledFilter = "",
    after: Annotated[int | None, Query(ge=0, le=MAX_AFTER)] = None,
) -> SourceFilters:
    return SourceFilters(survey.strip(), search.strip(), enabled, after)


Filters = Annotated[SourceFilters, Depends(_filters)]


def _sources_page(
    page: dict[str, Any],
    store: Ledger,
    filters: SourceFilters,
    *,
    notice: str | None = None,
    error: str | None = None,
    problems: list[ProblemOut] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    items, next_url = [], None
    try:
        survey = valid_survey(filters.survey) if filters.survey else None
    except HTTPException as exc:
        error, status_code = str(exc.detail), exc.status_code
    else:
        enabled = {"enabled": True, "disabled": False}.get(filters.enabled)
        listing = store.list_sources(
            survey, enabled=enabled, search=filters.search or None, limit=PAGE_SIZE, after=filters.after
        )
        items = listing.items
        if listing.next_after is not None:
            next_url = f"{page['base']}/sources?{filters.query(after=listing.next_after)}"
    context = {
        **page,
        "filters": filters,
        "sources": items,
        "next_url": next_url,
        "notice": notice,
        "error": error,
        "problems": problems or [],
    }
    return render("sources.html", context, status_code)


def _notice(created: int | None, existing: int | None, done: str, source: str) -> str | None:
    if created is not None and existing is not None:
        return f"{created} source(s) registered, {existing} already registered."
    if done in ("enabled", "disabled") and source:
        return f"{valid_source_id(source)} {done}."
    return None


@router.get("/sources")
def sources(
    page: Page,
    store: Ledger,
    filters: Filters,
    created: Annotated[int | None, Query(ge=0)] = None,
    existing: Annotated[int | None, Query(ge=0)] = None,
    done: Annotated[str, Query(max_length=16)] = "",
    source: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    return _sources_page(page, store, filters, notice=_notice(created, existing, done, source))


@dataclass(frozen=True)
class UploadForm:
    survey: str
    disabled: bool
    source_list: SourceList | None


async def _upload_form(request: Request) -> UploadForm:
    # Read after the login checks (a dependency of the route, not File()/Form() parameters, which FastAPI would
    # parse before any dependency runs).
    async with request.form(max_files=1, max_fields=10) as form:
        file = form.get("file")
        source_list = await read_file(file) if isinstance(file, UploadFile) and file.filename else None
        return UploadForm(str(form.get("survey", "")).strip(), form.get("disabled") == "on", source_list)


@router.post("/sources/upload", dependencies=WRITE)
def upload_sources(page: Page, store: Ledger, form: Annotated[UploadForm, Depends(_upload_form)]) -> Response:
    """Register an uploaded CSV or JSON list (all or nothing); bad lines are shown, each named."""
    filters = SourceFilters(survey=form.survey)
    bad = status.HTTP_422_UNPROCESSABLE_CONTENT
    try:
        survey = valid_survey(form.survey)
    except HTTPException as exc:
        return _sources_page(page, store, SourceFilters(), error=str(exc.detail), status_code=bad)
    if form.source_list is None:
        return _sources_page(page, store, filters, error="Choose a CSV or JSON file to upload.", status_code=bad)
    try:
        records = form.source_list.records(disabled=form.disabled)
    except RecordFileError as exc:
        problems = [ProblemOut.of(p) for p in exc.problems]
        return _sources_page(page, store, filters, error=headline(exc), problems=problems, status_code=bad)
    result = store.register_sources(survey, records)
    query = filters.query(created=len(result.created), existing=len(result.existing))
    return RedirectResponse(f"{page['base']}/sources?{query}", status_code=status.HTTP_303_SEE_OTHER)


async def _toggle_form(request: Request) -> dict[str, str]:
    async with request.form(max_files=0, max_fields=10) as form:
        return {key: value for key, value in form.items() if isinstance(value, str)}


@router.post("/sources/enabled", dependencies=WRITE)
def set_enabled(page: Page, store: Ledger, form: Annotated[dict[str, str], Depends(_toggle_form)]) -> RedirectResponse:
    """One source's enable/disable button."""
    survey = valid_survey(form.get("survey", ""))
    source_id = valid_source_id(form.get("source_id", ""))
    enabled = form.get("enabled") == "true"
    store.set_enabled(survey, [source_id], enabled)  # UnknownSources: 404
    back = SourceFilters(survey=form.get("filter_survey", ""), search=form.get("filter_search", ""))
    query = back.query(done="enabled" if enabled else "disabled", source=source_id)
    return RedirectResponse(f"{page['base']}/sources?{query}", status_code=status.HTTP_303_SEE_OTHER)


# -- runs ------------------------------------------------------------------------------------------------------


@router.get("/runs")
def runs_page(
    page: Page,
    store: Ledger,
    airflow: AirflowBase,
    survey: Annotated[str, Query(max_length=64)] = "",
    state: RunState | None = None,
    source: Annotated[str, Query(max_length=64)] = "",
    after: Annotated[int | None, Query(ge=0, le=MAX_AFTER)] = None,
) -> HTMLResponse:
    survey = survey.strip()
    listing = store.list_runs(
        valid_survey(survey) if survey else None, state=state, source_id=source or None, limit=PAGE_SIZE, after=after
    )
    filters = {"survey": survey, "state": state.value if state else "", "source": source}
    next_url = None
    if listing.next_after is not None:
        query = urlencode({k: v for k, v in filters.items() if v} | {"after": listing.next_after})
        next_url = f"{page['base']}/runs?{query}"
    context = {
        **page,
        "runs": [runs.summary(store, r, airflow) for r in listing.items],
        "filters": filters,
        "states": [s.value for s in RunState],
        "next_url": next_url,
    }
    return render("runs.html", context)


@router.get("/runs/{run_key}")
def run_page(page: Page, store: Ledger, airflow: AirflowBase, run_key: str) -> HTMLResponse:
    return render("run.html", {**page, "run": run_or_404(store, run_key, airflow)})


@router.get("/static/airflow-links.js")
def airflow_links_script() -> Response:
    return Response(_script("airflow-links.js"), media_type="text/javascript", headers=HEADERS)


@cache
def _script(name: str) -> bytes:
    return (resources.files("beampipe_provider.plugins") / "static" / name).read_bytes()


def error_page(
    request: Request, status_code: int, message: str, login_url: str | None, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    context = {"base": plugin_base(request), "status": status_code, "message": message, "login_url": login_url}
    response = render("error.html", context, status_code)
    response.headers.update(headers or {})  # e.g. a 405's Allow
    return response
