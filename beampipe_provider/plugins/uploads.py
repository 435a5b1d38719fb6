"""Source lists arriving over HTTP (a request body or a form's file): bounded, decoded, parsed all-or-nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from fastapi import HTTPException, Request, status
from starlette.datastructures import UploadFile  # what request.form() holds (FastAPI's UploadFile subclasses it)

from beampipe_provider.ledger.record_files import Problem, RecordFileError, parse_source_list
from beampipe_provider.ledger.records import SourceRecord

MAX_BYTES = 5 * 1024 * 1024  # the 72-source WALLABY list is 3 kB; this is room for ~100,000 sources
JSON_TYPES = frozenset({"application/json"})
CSV_TYPES = frozenset({"text/csv", "text/plain", "application/csv"})


@dataclass(frozen=True)
class SourceList:
    name: str  # the file name (or "request body"), as problems are reported against it
    fmt: str  # "csv" or "json"
    data: bytes

    def records(self, *, disabled: bool = False) -> list[SourceRecord]:
        """Every record, or RecordFileError naming every bad line; `disabled` registers new sources disabled."""
        try:
            text = self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RecordFileError(self.name, [Problem("line 1", "-", f"not UTF-8 text: {exc.reason}")]) from None
        records = parse_source_list(text, name=self.name, fmt=self.fmt)
        return [r.model_copy(update={"enabled": False}) for r in records] if disabled else records


def headline(error: RecordFileError) -> str:
    """The first line of the error ("targets.csv: 2 problem(s), nothing imported"); the problems come as a list."""
    return str(error).splitlines()[0].rstrip(":")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def format_of(filename: str | None, content_type: str | None) -> str:
    """JSON by suffix or media type, else CSV (as the CLI decides by suffix)."""
    if PurePosixPath(filename or "").suffix.lower() == ".json" or media_type(content_type) in JSON_TYPES:
        return "json"
    return "csv"


def _too_large() -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"a source list may have at most {MAX_BYTES} bytes")


async def read_file(file: UploadFile) -> SourceList:
    data = await file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _too_large()
    name = PurePosixPath(file.filename or "upload").name  # the browser's name for it, reported back only
    return SourceList(name, format_of(file.filename, file.content_type), data)


async def read_body(request: Request) -> SourceList:
    """The list from a request: a multipart form's `file`, or a CSV or JSON body."""
    kind = media_type(request.headers.get("content-type"))
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the multipart form needs a `file` field")
        return await read_file(file)
    if kind not in JSON_TYPES | CSV_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/csv, application/json or a multipart `file`"
        )
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BYTES:
            raise _too_large()
    return SourceList("request body", "json" if kind in JSON_TYPES else "csv", bytes(data))
