"""The API docs page: Swagger UI from the pinned `swagger-ui-bundle` package, served here (no CDN, works offline).

The page has no inline script: the bundle and our starter (static/docs-init.js) are files of this site, so the
pages' Content-Security-Policy (script-src 'self') applies unchanged.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import HTMLResponse, Response

from beampipe_provider.plugins.auth import require_read
from beampipe_provider.plugins.deps import PluginBase
from beampipe_provider.plugins.pages import HEADERS, _script, render

router = APIRouter(dependencies=[Depends(require_read)], include_in_schema=False)

ASSETS = {  # what the page loads, and nothing else of the package
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
}
SWAGGER_UI_VERSION = Path(swagger_ui_bundle.swagger_ui_path).name.removeprefix("swagger-ui-")


@router.get("/docs", response_class=HTMLResponse)
def docs(base: PluginBase) -> HTMLResponse:
    return render("docs.html", {"base": base, "version": SWAGGER_UI_VERSION})


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS | {"Cache-Control": "max-age=86400"})


@router.get("/docs/init.js")
def init_script() -> Response:
    return Response(_script("docs-init.js"), media_type="text/javascript", headers=HEADERS)


@cache
def _asset(name: str) -> bytes:
    return (Path(swagger_ui_bundle.swagger_ui_path) / name).read_bytes()
