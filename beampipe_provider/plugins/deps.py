"""Request dependencies shared by the API and the pages: the ledger, validated names, where Airflow's UI is."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from pydantic import ValidationError

from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.ledger.errors import UnknownRun
from beampipe_provider.ledger.records import SourceRecord, check_survey
from beampipe_provider.ledger.store import LedgerStore
from beampipe_provider.plugins import MOUNT
from beampipe_provider.plugins.models import RunDetail
from beampipe_provider.plugins.runs import detail


def ledger() -> LedgerStore:
    # Per request, so nothing is opened at import; the hook keeps one engine per ledger URL per process.
    return LedgerHook().get_store()


def valid_survey(value: str) -> str:
    try:
        return check_survey(value)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def valid_source_id(value: str) -> str:
    try:
        return SourceRecord(source_id=value).source_id
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"source ID: {exc.errors()[0]['msg']}") from None


def survey_in_path(survey: Annotated[str, Path(description="survey name, e.g. WALLABY")]) -> str:
    return valid_survey(survey)


def survey_in_query(survey: Annotated[str | None, Query(description="only this survey")] = None) -> str | None:
    return valid_survey(survey) if survey else None


def plugin_base(request: Request) -> str:
    """This app's path prefix as the browser sees it (Airflow's base URL path + /beampipe)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def airflow_base(request: Request) -> str:
    """The Airflow UI's path prefix: this app's mount point, less /beampipe."""
    return plugin_base(request).removesuffix(MOUNT)


def run_or_404(store: LedgerStore, run_key: str, base: str) -> RunDetail:
    try:
        return detail(store, run_key, base)
    except (UnknownRun, ValueError) as exc:  # ValueError: a prefix too short or matching several runs
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


Ledger = Annotated[LedgerStore, Depends(ledger)]
SurveyPath = Annotated[str, Depends(survey_in_path)]
SurveyFilter = Annotated[str | None, Depends(survey_in_query)]
AirflowBase = Annotated[str, Depends(airflow_base)]
PluginBase = Annotated[str, Depends(plugin_base)]
