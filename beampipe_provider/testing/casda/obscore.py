"""The emulator's second mount, /obscore: a plain IVOA service with ivoa.obscore alone (TAP sync and async,
DataLink, SODA async, files with Range and Repr-Digest). Nothing of CASDA's own tables or login is here.

Credentials are optional on every path; wrong ones are refused (401). Each request is logged with its Host and
whether it carried credentials, so tests can see where a client sent them (GET /_emulator/obscore/auth_log).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from beampipe_provider.testing.casda import vosi, votable
from beampipe_provider.testing.casda.catalogue import AdqlError
from beampipe_provider.testing.casda.data_access import content
from beampipe_provider.testing.casda.obscore_data import OBSCORE, ObscoreService
from beampipe_provider.testing.casda.plumbing import BaseHandler

UWS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK = "http://www.w3.org/1999/xlink"
MAXREC = 100_000


def uws_job(job_id: str, phase: str, results: Sequence[tuple[str, str, int | None]], error: str | None = None) -> str:
    items = "".join(
        f"<uws:result id={quoteattr(rid)} xlink:href={quoteattr(href)}{_size(size)}/>" for rid, href, size in results
    )
    message = escape(error or "")
    summary = f'<uws:errorSummary type="fatal"><uws:message>{message}</uws:message></uws:errorSummary>'
    return (
        f'<?xml version="1.0"?><uws:job xmlns:uws="{UWS}" xmlns:xlink="{XLINK}" version="1.1">'
        f"<uws:jobId>{job_id}</uws:jobId><uws:ownerId/><uws:phase>{phase}</uws:phase>"
        "<uws:creationTime>2024-01-01T00:00:00Z</uws:creationTime><uws:executionDuration>0</uws:executionDuration>"
        f"<uws:parameters/><uws:results>{items}</uws:results>{summary if error else ''}</uws:job>"
    )


def _size(size: int | None) -> str:
    return f' size="{size}"' if size is not None else ""


class ObscoreRoutes(BaseHandler):
    @property
    def _service(self) -> ObscoreService:
        return self.server.obscore

    def _pairs(self) -> list[tuple[str, str]]:
        """Every parameter, repeated ones kept (SODA takes several IDs), names upper-cased."""
        pairs = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            pairs += parse_qsl(self.rfile.read(length).decode() if length else "", keep_blank_values=True)
        return [(k.upper(), v) for k, v in pairs]

    def _obscore(self, path: str) -> None:
        header = self.headers.get("Authorization")
        self._service.log(self.headers.get("Host", ""), path, credentials=header is not None)
        if header is not None and not self.server.accounts.check(header):
            self._send(HTTPStatus.UNAUTHORIZED, "Unauthorized\n", "text/plain", {"WWW-Authenticate": 'Basic realm="x"'})
            return
        rest = path.removeprefix(OBSCORE)
        fixed = {
            "/tap/sync": self._ob_tap_sync,
            "/tap/tables": lambda: self._send(HTTPStatus.OK, vosi.tableset(self._service.catalogue.tables), "text/xml"),
            "/tap/capabilities": lambda: self._send(
                HTTPStatus.OK, vosi.capabilities(self._service.base_url + "/tap", MAXREC), "text/xml"
            ),
            "/tap/availability": lambda: self._send(HTTPStatus.OK, vosi.AVAILABLE, "text/xml"),
            "/tap/async": self._ob_tap_create,
            "/datalink": self._ob_datalink,
            "/soda/async": self._ob_soda_create,
        }
        if handler := fixed.get(rest):
            handler()
        elif rest.startswith("/tap/async/"):
            self._ob_tap_job(rest.removeprefix("/tap/async/").split("/"))
        elif rest.startswith("/soda/async/"):
            self._ob_soda_job(rest.removeprefix("/soda/async/").split("/"))
        elif rest.startswith(("/files/", "/staged/")):
            self._ob_file(rest)
        else:
            self._send(HTTPStatus.NOT_FOUND, f"no such path: {path}\n", "text/plain")

    # -- TAP --------------------------------------------------------------------------------------------------

    def _ob_answer(self, params: dict[str, str]) -> str:
        if params.get("LANG", "ADQL").upper() != "ADQL":
            return votable.error(f"LANG {params.get('LANG')!r} is not supported: use ADQL")
        try:
            maxrec = min(int(params.get("MAXREC") or MAXREC), MAXREC)
            result = self._service.catalogue.query(params.get("QUERY", ""), maxrec)
        except (AdqlError, ValueError) as exc:
            return votable.error(str(exc))
        return votable.results(result.columns, result.rows, overflow=result.overflow)

    def _ob_tap_sync(self) -> None:
        self._send(HTTPStatus.OK, self._ob_answer(dict(self._pairs())))

    def _ob_tap_create(self) -> None:
        job_id = uuid.uuid4().hex
        self._service.tap_jobs[job_id] = {"params": dict(self._pairs()), "phase": "PENDING", "result": None}
        self._redirect(f"{self._service.base_url}/tap/async/{job_id}")

    def _ob_tap_job(self, parts: list[str]) -> None:
        job = self._service.tap_jobs.get(parts[0])
        url = f"{self._service.base_url}/tap/async/{parts[0]}"
        if job is None:
            self._send(HTTPStatus.NOT_FOUND, "no such job\n", "text/plain")
        elif self.command == "DELETE":
            del self._service.tap_jobs[parts[0]]
            self._redirect(f"{self._service.base_url}/tap/async")
        elif parts[1:] == ["phase"] and self.command == "POST":
            if dict(self._pairs()).get("PHASE") == "RUN" and job["phase"] == "PENDING":
                job["result"] = self._ob_answer(job["params"])  # run at once: the next read finds it done
                job["phase"] = "ERROR" if 'value="ERROR"' in job["result"] else "COMPLETED"
            self._redirect(url)
        elif parts[1:] == ["results", "result"] and job["result"] is not None:
            self._send(HTTPStatus.OK, job["result"])
        else:
            results = [("result", f"{url}/results/result", None)] if job["phase"] == "COMPLETED" else []
            error = "query failed: see the result" if job["phase"] == "ERROR" else None
            self._send(HTTPStatus.OK, uws_job(parts[0], job["phase"], results, error), "text/xml")

    # -- DataLink, SODA, files --------------------------------------------------------------------------------

    def _ob_datalink(self) -> None:
        self._send(HTTPStatus.OK, self._service.datalink(dict(self._pairs()).get("ID", "")))

    def _ob_soda_create(self) -> None:
        ids = [v for k, v in self._pairs() if k == "ID"]
        unknown = [i for i in ids if i not in self._service.products]
        if unknown or not ids:
            self._send(HTTPStatus.BAD_REQUEST, f"UsageFault: unknown ID(s) {unknown or 'none given'}\n", "text/plain")
            return
        job = self._service.jobs.add_job(ids)
        self._redirect(f"{self._service.base_url}/soda/async/{job.id}")

    def _ob_soda_job(self, parts: list[str]) -> None:
        job = self._service.jobs.jobs.get(parts[0])
        url = f"{self._service.base_url}/soda/async/{parts[0]}"
        if job is None:
            self._send(HTTPStatus.NOT_FOUND, "no such job\n", "text/plain")
            return
        if parts[1:] == ["phase"] and self.command == "POST":
            if dict(self._pairs()).get("PHASE") == "RUN":
                faults = self.server.faults
                self._service.jobs.run(
                    job, stuck=faults.take("soda_stuck_suspended"), fails=faults.take("soda_job_error")
                )
            self._redirect(url)
            return
        phase = self._service.jobs.observe(job)
        results: list[tuple[str, str, int | None]] = []
        if phase == "COMPLETED":
            for did in job.dids:
                product = self._service.products[did]
                href = self._service.url(product.host, f"/staged/{job.id}/{quote(product.name, safe='')}")
                results.append((did, href, len(content(did))))
        self._send(HTTPStatus.OK, uws_job(job.id, phase, results, job.error), "text/xml")

    def _ob_file(self, rest: str) -> None:
        parts = rest.strip("/").split("/")
        if parts[0] == "staged":  # a SODA result: only once its job completed
            job = self._service.jobs.jobs.get(parts[1]) if len(parts) == 3 else None
            ready = job is not None and job.phase == "COMPLETED"
            product = self._service.by_name(unquote(parts[-1])) if ready else None
            if product is None or job is None or product.did not in job.dids:
                product = None
        else:
            product = self._service.by_name(unquote(parts[-1])) if len(parts) == 2 else None
        found = self._service.file(product.name) if product else None
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, "no such file\n", "text/plain")
            return
        data, headers = found
        if self.server.faults.take("download_corrupt"):  # the digest header still describes the true content
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        self._send_bytes(data, headers)

    # -- admin --------------------------------------------------------------------------------------------------

    def _ob_admin(self, what: str) -> None:
        if what == "auth_log":
            self._send(HTTPStatus.OK, json.dumps(self._service.auth_log), "application/json")
            return
        try:
            spec: dict[str, Any] = json.loads(self._params().get("_JSON") or "{}")
            product = self._service.add(spec)
        except (KeyError, ValueError, TypeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(exc)}), "application/json")
            return
        self._send(HTTPStatus.OK, json.dumps({"added": product.did}), "application/json")
