"""The emulator's HTTP face: CASDA's paths, so a client pointed at it changes only scheme, host and port."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from beampipe_provider.testing.casda import vosi, votable
from beampipe_provider.testing.casda.admin import AdminRoutes
from beampipe_provider.testing.casda.catalogue import TABLES, AdqlError, Catalogue
from beampipe_provider.testing.casda.data_access import checksum_text, content
from beampipe_provider.testing.casda.obscore import ObscoreRoutes
from beampipe_provider.testing.casda.obscore_data import OBSCORE
from beampipe_provider.testing.casda.plumbing import Accounts, BaseHandler, EmulatorServer, Faults

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


class Emulator(EmulatorServer):
    """CASDA's paths, and the plain ObsCore service under /obscore."""

    def __init__(self, address: tuple[str, int], catalogue: Catalogue, faults: Faults, accounts: Accounts) -> None:
        super().__init__(address, Handler, catalogue, faults, accounts)


class Handler(ObscoreRoutes, AdminRoutes, BaseHandler):
    def _route(self) -> None:
        if self.server.faults.latency_s:
            time.sleep(self.server.faults.latency_s)
        path = urlsplit(self.path).path.rstrip("/")
        if path.startswith(OBSCORE + "/"):
            self._obscore(path)
            return
        if path.startswith(f"{ADMIN}/obscore/"):
            self._ob_admin(path.removeprefix(f"{ADMIN}/obscore/"))
            return
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
    do_DELETE = _route

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
        self._send(HTTPStatus.OK, vosi.tableset(TABLES), "text/xml")

    def _tap_capabilities(self) -> None:
        self._send(HTTPStatus.OK, vosi.capabilities(self.server.base_url + TAP, DEFAULT_MAXREC), "text/xml")

    def _availability_public(self) -> None:
        self._send(HTTPStatus.OK, vosi.AVAILABLE, "text/xml")

    def _authorised(self) -> bool:
        if self.server.accounts.check(self.headers.get("Authorization")):
            return True
        self._send(
            HTTPStatus.UNAUTHORIZED, "Unauthorized\n", "text/plain", {"WWW-Authenticate": f'Basic realm="{OPAL_REALM}"'}
        )
        return False

    def _availability_login(self) -> None:
        if self._authorised():
            self._send(HTTPStatus.OK, vosi.AVAILABLE, "text/xml")

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
                name = quote(self.server.catalogue.filename_of(did) or did, safe="")  # a `/` in a name stays in it
                href = f"{self.server.base_url}{DOWNLOAD}/{job.id}/{name}"
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
