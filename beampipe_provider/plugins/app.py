"""The FastAPI app the api-server mounts at /beampipe. Cheap to import: routes are attached at startup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from beampipe_provider import __version__
from beampipe_provider.common.limits import InputTooLarge
from beampipe_provider.ledger.errors import LedgerError
from beampipe_provider.plugins.guard import BodyGuard


@asynccontextmanager
async def _attach_routes(app: FastAPI) -> AsyncIterator[None]:
    # Airflow imports plugin classes in every task process (for macros), but the routes need the api-server's
    # security module, which imports the whole core API (~0.6 s). The api-server runs the lifespan of each
    # mounted plugin app at startup, so the routes are attached there, and only there. Without a lifespan
    # the app has no routes at all: it fails closed.
    from beampipe_provider.plugins.routes import install

    install(app)
    yield


async def _on_error(request: Request, exc: Exception) -> Response:
    # Registered here, not at startup: a Starlette app fixes its error handlers when it first runs.
    from beampipe_provider.plugins.routes import handle_error

    return await handle_error(request, exc)


def create_app() -> FastAPI:
    # Docs and schema are served by our own routes, behind the same login as everything else.
    app = FastAPI(
        title="Beampipe",
        version=__version__,
        description="The beampipe source registry and run ledger. Every route needs an Airflow login: "
        "reads need DAG read access, writes DAG edit access.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_attach_routes,
        exception_handlers={
            HTTPException: _on_error,
            RequestValidationError: _on_error,
            LedgerError: _on_error,
            InputTooLarge: _on_error,
        },
    )
    app.add_middleware(BodyGuard)
    return app
