"""Who may do what: the api-server's own login (JWT bearer or the UI's `_token` cookie) and its auth manager.

Reads need DAG read access, writes DAG edit access, asked of the auth manager for DAGs in general (no dag_id:
a request cannot pick a DAG it happens to have rights on). Writes that rely on the cookie must also come from a
page of this site (see `same_origin_write`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def may(user: BaseUser, method: ResourceMethod) -> bool:
    return bool(get_auth_manager().is_authorized_dag(method=method, user=user))


async def current_user(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> BaseUser:
    """The api-server's own login check, except that a token that fails to verify (tampered, signed with another
    key) is a 401 like a missing or expired one: it proves no identity. Airflow itself answers 403 there."""
    try:
        return await get_user(request, None, bearer)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_403_FORBIDDEN:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"}
            ) from None
        raise


User = Annotated[BaseUser, Depends(current_user)]


def require_read(user: User) -> BaseUser:
    if not may(user, "GET"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "reading the beampipe ledger needs DAG read access")
    return user


def require_edit(user: User) -> BaseUser:
    if not may(user, "PUT"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "changing the beampipe ledger needs DAG edit access")
    return user


def same_origin_write(request: Request) -> None:
    """Refuse cross-site writes (CSRF) that would ride on the browser's `_token` cookie.

    A request carrying `Authorization: Bearer` is not at risk: browsers never add that header on their own, and
    Airflow authenticates by it first. A cookie-authenticated write must come from this origin: browsers send
    `Sec-Fetch-Site` (fetch metadata; only "same-origin", or "none" for a user's own navigation, pass), older ones
    at least `Origin`, which must name this scheme, host and port. A write with neither is refused: no page of
    ours sent it.
    """
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if (site := request.headers.get("sec-fetch-site")) is not None:
        if site in ("same-origin", "none"):
            return
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-site write refused (Sec-Fetch-Site: {site})")
    origin = urlsplit(request.headers.get("origin", ""))
    here = (request.url.scheme, (request.headers.get("host") or "").lower())
    if origin.netloc and (origin.scheme.lower(), origin.netloc.lower()) == here:  # scheme, host and port
        return
    raise HTTPException(
        status.HTTP_403_FORBIDDEN, "write refused: send a bearer token, or post from a page of this site"
    )


Reader = Annotated[BaseUser, Depends(require_read)]
Editor = Annotated[BaseUser, Depends(require_edit)]
WRITE = [Depends(require_edit), Depends(same_origin_write)]
