"""The CASDA emulator's admin routes (/_emulator/...): deposits over time, redeposits, faults and stats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus

from beampipe_provider.testing.casda.catalogue import wallaby_sbid_rows
from beampipe_provider.testing.casda.plumbing import BaseHandler


class AdminRoutes(BaseHandler):
    def _admin_deposit(self) -> None:
        """POST JSON {"sbid": 34001, "sources": ["HIPASSJ1303+07"], "when": ISO?, "project": "AS102"?,
        "names": {"visibility-3400100": "any file name, hostile ones too"}?}: `names` overrides products' file names."""
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
            names = dict(spec.get("names") or {})
            for row in block["ivoa.obscore"]:
                row["filename"] = str(names.pop(row["obs_publisher_did"], row["filename"]))
            if names:
                raise ValueError(f"no such products in this deposit: {', '.join(sorted(names))}")
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
