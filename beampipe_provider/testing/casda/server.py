"""The emulator's HTTP face: CASDA's paths, so a client pointed at it changes only scheme, host and port."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from beampipe_provider.testing.casda import votable
from beampipe_provider.testing.casda.catalogue import TABLES, AdqlError, Catalogue, wallaby_sbid_rows
from beampipe_provider.testing.casda.data_access import DataAccess, checksum_text, content

TAP = "/casda_vo_tools/tap"
SIA2 = "/casda_vo_tools/sia2/query"
AVAILABILITY = "/casda_vo_proxy/vo/tap/availability"
DATALINK = "/casda_vo_proxy/vo/datalink/links"
SODA_ASYNC = "/casda_data_access/data/async"
DOWNLOAD = "/download"
UWS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK = "http://www.w3.org/1999/xlink"
ADMIN = "/_emulator"
OPAL_REALM = "ATNF OPAL Login"
DEFAULT_MAXREC = 100_000


@dataclass
class Faults:
    """What goes wrong next: counters are consumed one request at a time; latency applies to every request."""

    latency_s: float = 0.0
    tap_http_500: int = 0
    tap_query_error: int = 0
    tap_malformed: int = 0
    tap_hang_s: float = 0.0
    soda_stuck_suspended: int = 0
    soda_job_error: int = 0
    download_truncate: int = 0
    download_corrupt: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def update(self, spec: dict[str, Any]) -> None:
        with self._lock:
            for key, value in spec.items():
                if key.startswith("_") or not hasattr(self, key):
                    raise ValueError(f"unknown fault {key!r}")
                setattr(self, key, type(getattr(self, key))(value))

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """`latency_s=0.2,tap_http_500=2` (the --faults option)."""
        faults = cls()
        if spec:
            faults.update(dict(item.split("=", 1) for item in spec.split(",")))
        return faults


@dataclass
class Accounts:
    users: dict[str, str] = field(default_factory=lambda: {"opal-user@example.org": "opal-password"})

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return self.users.get(user) == password


class Emulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], catalogue: Catalogue, faults: Faults, accounts: Accounts) -> None:
        super().__init__(address, Handler)
        self.catalogue = catalogue
        self.faults = faults
        self.accounts = accounts
        self.data = DataAccess()
        self.range_requests = 0  # read by tests through /_emulator/stats

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the client's view

    # -- plumbing -------------------------------------------------------------------------------------------

    def _params(self) -> dict[str, str]:
        query = urlsplit(self.path).query
        params = {k.upper(): v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return {"_JSON": body}
            params.update({k.upper(): v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
        return params

    def _send(
        self,
        status: int,
        body: str,
        content_type: str = "application/x-votable+xml",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> None:
        if self.server.faults.latency_s:
            time.sleep(self.server.faults.latency_s)
        path = urlsplit(self.path).path.rstrip("/")
        routes: dict[str, Callable[[], None]] = {
            f"{TAP}/sync": self._tap_sync,
            f"{TAP}/tables": self._tap_tables,
            f"{TAP}/capabilities": self._tap_capabilities,
            f"{TAP}/availability": self._availability_public,
            SIA2: self._sia2,
            AVAILABILITY: self._availability_login,
            DATALINK: self._datalink,
            SODA_ASYNC: self._soda_create,
            f"{ADMIN}/deposit": self._admin_deposit,
            f"{ADMIN}/faults": self._admin_faults,
            f"{ADMIN}/stats": self._admin_stats,
            f"{ADMIN}/redeposit": self._admin_redeposit,
        }
        handler = routes.get(path)
        if handler is None and path.startswith(SODA_ASYNC + "/"):
            handler = self._soda_job
        elif handler is None and path.startswith(DOWNLOAD + "/"):
            handler = self._download
        if handler is None:
            self._send(HTTPStatus.NOT_FOUND, f"no such path: {path}\n", "text/plain")
        else:
            handler()

    do_GET = _route
    do_POST = _route

    # -- TAP ------------------------------------------------------------------------------------------------

    def _tap_sync(self) -> None:
        params = self._params()
        faults = self.server.faults
        if faults.take("tap_http_500"):
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error\n", "text/plain")
            return
        if faults.tap_hang_s:
            time.sleep(faults.tap_hang_s)
        if faults.take("tap_malformed"):
            self._send(HTTPStatus.OK, votable.HEAD + "<INFO name=")
            return
        if faults.take("tap_query_error"):
            self._send(HTTPStatus.OK, votable.error("Query processing failed: injected fault"))
            return
        if params.get("REQUEST") != "doQuery":
            self._send(HTTPStatus.OK, votable.error("REQUEST must be doQuery"))
            return
        if params.get("LANG", "").upper() != "ADQL":
            self._send(HTTPStatus.OK, votable.error(f"LANG {params.get('LANG')!r} is not supported: use ADQL"))
            return
        try:
            maxrec = int(params.get("MAXREC") or DEFAULT_MAXREC)
            result = self.server.catalogue.query(params.get("QUERY", ""), min(maxrec, DEFAULT_MAXREC))
        except (AdqlError, ValueError) as exc:
            self._send(HTTPStatus.OK, votable.error(str(exc)))
            return
        self._send(HTTPStatus.OK, votable.results(result.columns, result.rows, overflow=result.overflow))

    def _sia2(self) -> None:
        try:
            result = self.server.catalogue.sia2(self._params().get("POS", ""))
        except (AdqlError, ValueError) as exc:
            self._send(HTTPStatus.OK, votable.error(str(exc)))
            return
        self._send(HTTPStatus.OK, votable.results(result.columns, result.rows, overflow=False))

    def _tap_tables(self) -> None:
        schemas: dict[str, list[str]] = {}
        for name, columns in TABLES.items():
            schema = name.split(".")[0]
            cols = "".join(f"<column><name>{c}</name></column>" for c in columns)
            schemas.setdefault(schema, []).append(f"<table><name>{name}</name>{cols}</table>")
        body = "".join(f"<schema><name>{s}</name>{''.join(t)}</schema>" for s, t in schemas.items())
        self._send(
            HTTPStatus.OK,
            f'<?xml version="1.0"?><vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0">'
            f"{body}</vosi:tableset>",
            "text/xml",
        )

    def _tap_capabilities(self) -> None:
        base = self.server.base_url + TAP
        self._send(
            HTTPStatus.OK,
            '<?xml version="1.0"?><vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
            'xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">'
            '<capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">'
            f'<interface xsi:type="vs:ParamHTTP" role="std"><accessURL use="base">{base}</accessURL></interface>'
            '<language><name>ADQL</name><version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version></language>'
            f'<outputLimit><default unit="row">{DEFAULT_MAXREC}</default>'
            f'<hard unit="row">{DEFAULT_MAXREC}</hard></outputLimit>'
            "</capability></vosi:capabilities>",
            "text/xml",
        )

    def _availability_public(self) -> None:
        self._send(HTTPStatus.OK, _AVAILABLE, "text/xml")

    def _authorised(self) -> bool:
        if self.server.accounts.check(self.headers.get("Authorization")):
            return True
        self._send(
            HTTPStatus.UNAUTHORIZED, "Unauthorized\n", "text/plain", {"WWW-Authenticate": f'Basic realm="{OPAL_REALM}"'}
        )
        return False

    def _availability_login(self) -> None:
        if self._authorised():
            self._send(HTTPStatus.OK, _AVAILABLE, "text/xml")

    # -- DataLink, SODA, downloads --------------------------------------------------------------------------

    def _datalink(self) -> None:
        if not self._authorised():
            return
        did = self._params().get("ID", "")
        if self.server.catalogue.filename_of(did) is None:
            self._send(HTTPStatus.OK, votable.error(f"Unknown ID {did}"))
            return
        self._send(HTTPStatus.OK, _datalink_document(did, self.server.data.token_for(did), self.server.base_url))

    def _soda_create(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        self._params()  # drain a form body, if any
        try:
            job = self.server.data.create_job(query.get("ID", []))
        except ValueError as exc:
            self._send(HTTPStatus.BAD_REQUEST, f"{exc}\n", "text/plain")
            return
        self._redirect(f"{self.server.base_url}{SODA_ASYNC}/{job.id}")

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _soda_job(self) -> None:
        parts = urlsplit(self.path).path.rstrip("/").removeprefix(SODA_ASYNC + "/").split("/")
        job = self.server.data.jobs.get(parts[0])
        if job is None:
            self._send(HTTPStatus.NOT_FOUND, "no such job\n", "text/plain")
            return
        if parts[1:] == ["phase"] and self.command == "POST":
            if self._params().get("PHASE") == "RUN":
                faults = self.server.faults
                self.server.data.run(
                    job, stuck=faults.take("soda_stuck_suspended"), fails=faults.take("soda_job_error")
                )
            self._redirect(f"{self.server.base_url}{SODA_ASYNC}/{job.id}")
            return
        phase = self.server.data.observe(job)
        results = ""
        if phase == "COMPLETED":
            for did in job.dids:
                href = (
                    f"{self.server.base_url}{DOWNLOAD}/{job.id}/{quote(self.server.catalogue.filename_of(did) or did)}"
                )
                results += f'<uws:result id="{did}" xlink:href={quoteattr(href)}/>'
                results += f'<uws:result id="{did}.checksum" xlink:href={quoteattr(href + ".checksum")}/>'
        error = (
            f"<uws:errorSummary><uws:message>{escape(job.error)}</uws:message></uws:errorSummary>" if job.error else ""
        )
        self._send(
            HTTPStatus.OK,
            f'<?xml version="1.0"?><uws:job xmlns:uws="{UWS}" xmlns:xlink="{XLINK}"><uws:jobId>{job.id}</uws:jobId>'
            f"<uws:phase>{phase}</uws:phase><uws:results>{results}</uws:results>{error}</uws:job>",
            "text/xml",
        )

    def _download(self) -> None:
        parts = urlsplit(self.path).path.removeprefix(DOWNLOAD + "/").split("/", 1)
        job = self.server.data.jobs.get(parts[0])
        name = unquote(parts[1]) if len(parts) == 2 else ""
        wants_checksum = name.endswith(".checksum")
        did = next(
            (
                d
                for d in (job.dids if job else [])
                if self.server.catalogue.filename_of(d) == name.removesuffix(".checksum")
            ),
            None,
        )
        if job is None or job.phase != "COMPLETED" or did is None:
            self._send(HTTPStatus.NOT_FOUND, "no such file\n", "text/plain")
            return
        data = content(did)
        if wants_checksum:
            self._send(HTTPStatus.OK, checksum_text(data) + "\n", "text/plain")
            return
        if self.server.faults.take("download_corrupt"):
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        self._send_bytes(data)

    def _send_bytes(self, data: bytes) -> None:
        start = 0
        if match := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
            start = min(int(match.group(1)), len(data))
            self.server.range_requests += 1
        body = data[start:]
        self.send_response(HTTPStatus.PARTIAL_CONTENT if start else HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.server.faults.take("download_truncate"):
            self.wfile.write(body[: len(body) // 2])  # then the connection drops mid-file
            self.close_connection = True
            return
        self.wfile.write(body)

    # -- admin: deposits over time, faults ------------------------------------------------------------------

    def _admin_deposit(self) -> None:
        """POST JSON {"sbid": 34001, "sources": ["HIPASSJ1303+07"], "when": ISO?, "project": "AS102"?}."""
        try:
            spec = json.loads(self._params().get("_JSON") or "{}")
            when = datetime.fromisoformat(spec["when"]) if spec.get("when") else datetime.now(UTC)
            block = wallaby_sbid_rows(
                self.server.base_url,
                int(spec["sbid"]),
                when,
                list(spec.get("sources", [])),
                project=spec.get("project", "AS102"),
            )
            if spec.get("event_type"):
                block["casda.observation_event"][0]["event_type"] = spec["event_type"]
            added = {table: self.server.catalogue.insert(table, rows) for table, rows in block.items()}
        except (KeyError, ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}), "application/json")
            return
        self._send(HTTPStatus.OK, json.dumps({"added": added}), "application/json")

    def _admin_redeposit(self) -> None:
        """POST JSON {"did": "visibility-3368100", "size_kb": 123, "when": ISO?}: new content, an UPDATED event."""
        try:
            spec = json.loads(self._params().get("_JSON") or "{}")
            when = datetime.fromisoformat(spec["when"]) if spec.get("when") else datetime.now(UTC)
            sbid = self.server.catalogue.redeposit(str(spec["did"]), int(spec["size_kb"]), when)
        except (KeyError, ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}), "application/json")
            return
        self._send(HTTPStatus.OK, json.dumps({"sbid": sbid}), "application/json")

    def _admin_stats(self) -> None:
        self._send(HTTPStatus.OK, json.dumps({"range_requests": self.server.range_requests}), "application/json")

    def _admin_faults(self) -> None:
        try:
            self.server.faults.update(json.loads(self._params().get("_JSON") or "{}"))
        except (ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}), "application/json")
            return
        self._send(HTTPStatus.OK, json.dumps({"faults": repr(self.server.faults)}), "application/json")


def _datalink_document(did: str, token: str, base_url: str) -> str:
    """DataLink as CASDA serves it: an async_service row with an authenticated ID token, and the service's URL."""
    return (
        votable.HEAD.replace('<RESOURCE type="results">\n', "") + '<RESOURCE type="results"><TABLE>'
        '<FIELD name="ID" datatype="char" arraysize="*"/><FIELD name="access_url" datatype="char" arraysize="*"/>'
        '<FIELD name="service_def" datatype="char" arraysize="*"/>'
        '<FIELD name="error_message" datatype="char" arraysize="*"/>'
        '<FIELD name="semantics" datatype="char" arraysize="*"/>'
        '<FIELD name="authenticated_id_token" datatype="char" arraysize="*"/>'
        f"<DATA><TABLEDATA><TR><TD>{escape(did)}</TD><TD/><TD>async_service</TD><TD/><TD>#this</TD>"
        f"<TD>{token}</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE>"
        '<RESOURCE type="meta" utype="adhoc:service" ID="async_service">'
        f'<PARAM name="accessURL" datatype="char" arraysize="*" value="{base_url}{SODA_ASYNC}"/>'
        "</RESOURCE></VOTABLE>\n"
    )


_AVAILABLE = (
    '<?xml version="1.0"?><vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
    "<vosi:available>true</vosi:available></vosi:availability>"
)
