"""The app's outermost layer: every request body is bounded, and a JSON body is checked before anything parses it.

FastAPI would parse a JSON body with `json.loads` as it is: 50,000 nested brackets raise RecursionError, a
5,000-digit integer ValueError, and NaN passes into the models (and then cannot be written back as JSON). Here a
body past `MAX_BODY_BYTES` is a 413 and a JSON body past the bounds of `common.limits.load_json` a 400, before any
route runs.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beampipe_provider.common.limits import MAX_BODY_BYTES, InputTooLarge, load_json

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


def error(status_code: int, detail: str, where: str = "body", field: str = "-") -> JSONResponse:
    problems = [{"where": where, "field": field, "reason": detail}]
    return JSONResponse({"detail": detail, "problems": problems}, status_code=status_code)


class BodyGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        too_large = error(413, f"a request body may have at most {MAX_BODY_BYTES} bytes")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        kind = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if kind == "application/json" or kind.endswith("+json"):
            try:
                load_json(bytes(body))
            except InputTooLarge as exc:
                await error(400, f"request body: {exc}")(scope, receive, send)
                return
            except ValueError:  # not JSON (or not UTF-8): the route says so, naming the body
                pass
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
