"""The UI plugin inside a real `airflow api-server`: JSON API, pages, login and permissions, and a real browser.

One api-server per module (SimpleAuthManager users viewer / editor / admin, a seeded SQLite ledger named by the
`beampipe_ledger_default` connection). Tokens come from the real `/auth/token`; the browser logs in through the
real login page. Screenshots go to $BEAMPIPE_SCREENSHOTS (default: the test's tmp_path).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import AirflowEnv
from tests.e2e.ui_server import SUBMIT_ACTOR, USERS, Seeded, UiServer, seed_ledger

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert(1)</script>"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}  # what a browser adds to a form post from our own page


@dataclass
class Ui:
    server: UiServer
    seeded: Seeded
    tokens: dict[str, str]

    def client(self, user: str | None = None, *, cookie: bool = False) -> httpx.Client:
        """As an API client (bearer token) or as the browser (the UI's `_token` cookie), or anonymous."""
        headers, cookies = {}, {}
        if user and cookie:
            cookies["_token"] = self.tokens[user]
        elif user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.Client(base_url=f"{self.server.url}/beampipe", headers=headers, cookies=cookies, timeout=30)


@contextmanager
def running_ui(airflow_env: AirflowEnv, work: Path) -> Iterator[Ui]:
    """A real api-server with the plugin over a seeded SQLite ledger in `work`, and a token per test user."""
    seeded = seed_ledger(work / "ledger.db")
    server = UiServer(airflow_env, work, work / "ledger.db")
    server.start()
    try:
        yield Ui(server, seeded, {user: server.token(user) for user in USERS})
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ui(airflow_env: AirflowEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    with running_ui(airflow_env, tmp_path_factory.mktemp("ui_plugin")) as running:
        yield running


def _ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [s["source_id"] for s in answer.json()["items"]]


# -- login and permissions -------------------------------------------------------------------------------------


def test_every_route_needs_a_login(ui: Ui) -> None:
    routes = [
        ("GET", "/sources"),
        ("GET", "/runs"),
        ("GET", f"/runs/{ui.seeded.done}"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/api/sources"),
        ("GET", "/api/sources/WALLABY/HIPASSJ1318-21"),
        ("GET", "/api/runs"),
        ("GET", f"/api/runs/{ui.seeded.done}"),
        ("POST", "/api/sources/WALLABY"),
        ("POST", "/api/sources/WALLABY/bulk"),
        ("POST", "/api/sources/WALLABY/disable"),
        ("POST", "/sources/enabled"),
        ("POST", "/sources/upload"),
    ]
    with ui.client() as anonymous:
        for method, path in routes:
            answer = anonymous.request(method, path, json={"source_ids": ["HIPASSJ1318-21"]}, headers=SAME_ORIGIN)
            assert answer.status_code == 401, (method, path, answer.text)
        page = anonymous.get("/sources")
        assert "text/html" in page.headers["content-type"]
        assert '/auth/login?next=%2Fbeampipe%2Fsources"' in page.text  # a way in, back to this page
    with ui.client("viewer") as viewer:
        assert viewer.get("/api/sources").status_code == 200  # the same routes with a login work


def test_viewer_reads_but_cannot_write(ui: Ui) -> None:
    with ui.client("viewer") as viewer:
        assert viewer.post("/api/sources/WALLABY", json={"source_id": "HIPASSJ1400-01"}).status_code == 403
        assert viewer.post("/api/sources/WALLABY/bulk", content="Name\nHIPASSJ1400-01\n",
                           headers={"content-type": "text/csv"}).status_code == 403  # fmt: skip
        assert viewer.post("/api/sources/WALLABY/disable", json={"source_ids": ["HIPASSJ1318-21"]}).status_code == 403
    with ui.client("viewer", cookie=True) as browser:
        page = browser.get("/sources")
        assert page.status_code == 200
        assert "HIPASSJ1318-21" in page.text
        assert "/sources/upload" not in page.text  # no buttons it may not press
        assert "Disable" not in page.text
        form = {"survey": "WALLABY", "source_id": "HIPASSJ1318-21", "enabled": "false"}
        assert browser.post("/sources/enabled", data=form, headers=SAME_ORIGIN).status_code == 403
    with ui.client() as anonymous:
        assert _ids(anonymous.get("/api/sources", headers={"Authorization": f"Bearer {ui.tokens['editor']}"}))
        source = anonymous.get("/api/sources/WALLABY/HIPASSJ1318-21", headers={"Authorization": "Bearer x"})
        assert source.status_code == 401, source.text  # a forged token is no login


def test_openapi_schema_and_docs(ui: Ui) -> None:
    with ui.client("viewer") as viewer:
        schema = viewer.get("/openapi.json").json()
        docs = viewer.get("/docs")
    assert schema["servers"] == [{"url": "/beampipe"}]
    assert {
        "/api/sources",
        "/api/sources/{survey}",
        "/api/sources/{survey}/{source_id}",
        "/api/sources/{survey}/bulk",
        "/api/sources/{survey}/enable",
        "/api/sources/{survey}/disable",
        "/api/runs",
        "/api/runs/{run_key}",
    } <= set(schema["paths"])
    assert {"SourceOut", "SourcePage", "Registered", "Rejected", "RunOut", "RunDetail"} <= set(
        schema["components"]["schemas"]
    )
    bulk = schema["paths"]["/api/sources/{survey}/bulk"]["post"]
    assert {"text/csv", "application/json", "multipart/form-data"} <= set(bulk["requestBody"]["content"])
    assert docs.status_code == 200
    assert 'data-openapi="/beampipe/openapi.json"' in docs.text
    assert "cdn" not in docs.text.lower()
    assert "<script>" not in docs.text  # files only: the CSP allows no inline script
    assert docs.headers["content-security-policy"].startswith("default-src 'self'")
    with ui.client("viewer") as viewer:
        bundle = viewer.get("/docs/assets/swagger-ui-bundle.js")
        assert viewer.get("/docs/assets/index.html").status_code == 404  # the page's own files only
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")


# -- sources API -----------------------------------------------------------------------------------------------


def test_create_get_and_list_sources(ui: Ui) -> None:
    with ui.client("editor") as editor:
        body = {"source_id": "HIPASSJ1300-12", "ra": "13:00:17.2", "dec": "-12:20:48", "vsys_kms": 1580}
        first = editor.post("/api/sources/CREATE", json=body)
        again = editor.post("/api/sources/CREATE", json=body | {"enabled": False})
        editor.post("/api/sources/CREATE", json={"source_id": "HIPASSJ1300-13"})
        got = editor.get("/api/sources/CREATE/HIPASSJ1300-12")
        missing = editor.get("/api/sources/CREATE/HIPASSJ9999-99")
        searched = editor.get("/api/sources", params={"survey": "CREATE", "search": "1300-12"})
        page1 = editor.get("/api/sources", params={"survey": "CREATE", "limit": 1})
        page2 = editor.get("/api/sources", params={"survey": "CREATE", "limit": 1, "after": page1.json()["next_after"]})
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert again.json()["source"]["enabled"] is True  # registering again never changes a source
    assert got.json()["metadata"] == {"ra": "13:00:17.2", "dec": "-12:20:48", "vsys_kms": 1580.0}
    assert missing.status_code == 404
    assert _ids(searched) == ["HIPASSJ1300-12"]
    assert _ids(page1) + _ids(page2) == ["HIPASSJ1300-12", "HIPASSJ1300-13"]
    assert page2.json()["next_after"] is None


def test_names_are_validated(ui: Ui) -> None:
    with ui.client("editor") as editor:
        bad_survey = editor.post("/api/sources/1bad", json={"source_id": "HIPASSJ1300-12"})
        bad_filter = editor.get("/api/sources", params={"survey": "x;drop"})
        bad_id = editor.post("/api/sources/VALID", json={"source_id": SCRIPT})
        bad_lookup = editor.get("/api/sources/VALID/a b")
        bad_field = editor.post("/api/sources/VALID", json={"source_id": "HIPASSJ1300-12", "ra": "25:00:00"})
        extra_field = editor.post("/api/sources/VALID", json={"source_id": "HIPASSJ1300-12", "owner": "me"})
        listed = editor.get("/api/sources", params={"survey": "VALID"})
    for answer in (bad_survey, bad_filter, bad_id, bad_lookup, bad_field, extra_field):
        assert answer.status_code == 422, answer.text
    assert "survey '1bad'" in bad_survey.text
    assert _ids(listed) == []


def test_bulk_registration_from_csv_json_and_upload(ui: Ui) -> None:
    csv = "Name,RA,Dec,Vsys\nHIPASSJ1300-12, 13:00:17.2, -12:20:48,1580\nHIPASSJ1300-13, 13:00:52.9, -13:26:59,2554\n"
    entries = [{"source_id": "HIPASSJ1301-17", "description": "edge-on"}, {"source_id": "HIPASSJ1300-12"}]
    with ui.client("editor") as editor:
        from_csv = editor.post("/api/sources/BULK/bulk", content=csv, headers={"content-type": "text/csv"})
        from_json = editor.post("/api/sources/BULK/bulk", json={"sources": entries})
        upload = editor.post(
            "/api/sources/BULK/bulk",
            params={"disabled": "true"},
            files={"file": ("more.csv", b"source_id\nHIPASSJ1302-20\n", "text/csv")},
        )
        disabled = editor.get("/api/sources", params={"survey": "BULK", "enabled": "false"})
        unsupported = editor.post("/api/sources/BULK/bulk", content="x", headers={"content-type": "text/html"})
    assert from_csv.json() == {"survey": "BULK", "created": ["HIPASSJ1300-12", "HIPASSJ1300-13"], "existing": []}
    assert from_json.json() == {"survey": "BULK", "created": ["HIPASSJ1301-17"], "existing": ["HIPASSJ1300-12"]}
    assert upload.json()["created"] == ["HIPASSJ1302-20"]
    assert _ids(disabled) == ["HIPASSJ1302-20"]
    assert unsupported.status_code == 415


def test_a_list_with_bad_lines_registers_nothing_and_names_each(ui: Ui) -> None:
    bad = "Name,RA,Dec\nHIPASSJ1400-01,14:00:00,-01:00:00\nHIPASSJ1400-02,25:00:00,-02:00:00\nhipassj1400-01,,\n"
    with ui.client("editor") as editor:
        answer = editor.post("/api/sources/REJECT/bulk", files={"file": ("targets.csv", bad.encode(), "text/csv")})
        as_json = editor.post("/api/sources/REJECT/bulk", json=[{"source_id": "ok-1"}, {"source_id": "no spaces"}])
        listed = editor.get("/api/sources", params={"survey": "REJECT"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "targets.csv: 2 problem(s), nothing imported"
    problems = answer.json()["problems"]
    assert problems[0] == {"where": "line 3", "field": "ra", "reason": "'25:00:00' is out of range"}
    assert problems[1] == {"where": "line 4", "field": "source_id", "reason": "duplicate of line 2 (hipassj1400-01)"}
    assert as_json.json()["problems"][0]["where"] == "entry 2"
    assert _ids(listed) == []  # all or nothing


def test_enable_and_disable(ui: Ui) -> None:
    with ui.client("editor") as editor:
        editor.post("/api/sources/TOGGLE/bulk", json=[{"source_id": "A-1"}, {"source_id": "A-2"}])
        off = editor.post("/api/sources/TOGGLE/disable", json={"source_ids": ["A-1", "A-2"]})
        off_again = editor.post("/api/sources/TOGGLE/disable", json={"source_ids": ["A-1"]})
        on = editor.post("/api/sources/TOGGLE/enable", json={"source_ids": ["A-2"]})
        unknown = editor.post("/api/sources/TOGGLE/enable", json={"source_ids": ["A-1", "NOPE-1"]})
        disabled = editor.get("/api/sources", params={"survey": "TOGGLE", "enabled": "false"})
    assert off.json() == {"survey": "TOGGLE", "enabled": False, "changed": 2}
    assert off_again.json()["changed"] == 0
    assert on.json()["changed"] == 1
    assert unknown.status_code == 404
    assert "NOPE-1" in unknown.json()["detail"]
    assert _ids(disabled) == ["A-1"]  # the refused request changed nothing


# -- runs ------------------------------------------------------------------------------------------------------

TASK_URL = "/dags/wallaby_hires/runs/manual__2026-03-01T10%3A00%3A00%2B00%3A00/tasks/process/mapped/3"


def test_runs_api(ui: Ui) -> None:
    done, planned = ui.seeded.done, ui.seeded.planned
    with ui.client("viewer") as viewer:
        listed = viewer.get("/api/runs", params={"survey": "WALLABY"}).json()["items"]
        succeeded = viewer.get("/api/runs", params={"state": "SUCCEEDED"}).json()["items"]
        one = viewer.get(f"/api/runs/{done[:10]}")  # a unique prefix, as the CLI takes it
        unknown = viewer.get("/api/runs/" + "0" * 64)
    by_key = {r["run_key"]: r for r in listed}
    assert set(by_key) == {done, planned}
    assert [r["run_key"] for r in succeeded] == [done]
    run = one.json()
    assert (run["state"], run["scheduler_job_id"], run["dataset_count"]) == ("SUCCEEDED", "4242", 2)
    assert run["duration_s"] == 87 * 60 + 5
    assert run["provenance"]["algorithm"] == "ed25519"
    assert run["task"] == {
        "dag_id": "wallaby_hires",
        "run_id": "manual__2026-03-01T10:00:00+00:00",
        "task_id": "process",
        "map_index": 3,
        "url": TASK_URL,
    }
    assert [e["to_state"] for e in run["events"]] == ["DISCOVERED", "CLAIMED", "STAGED", "SUBMITTED", "RUNNING",
                                                      "SUCCEEDED"]  # fmt: skip
    assert (run["events"][0]["actor"], run["events"][0]["task"]) == ("planner", None)
    assert run["events"][-1]["actor"] == SUBMIT_ACTOR
    assert [d["sbid"] for d in run["datasets"]] == [33521, 33522]
    assert (by_key[planned]["provenance"], by_key[planned]["task"]) == (None, None)
    assert unknown.status_code == 404


def test_runs_pages(ui: Ui) -> None:
    with ui.client("viewer", cookie=True) as browser:
        runs = browser.get("/runs")
        one = browser.get(f"/runs/{ui.seeded.done}")
        missing = browser.get("/runs/" + "f" * 64)
    assert runs.status_code == 200
    assert f'href="{TASK_URL}"' in runs.text
    for text in ("4242", "1h 27m 05s", "signed"):
        assert text in runs.text
    assert f'href="/beampipe/runs/{ui.seeded.done}"' in runs.text
    assert runs.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    assert one.status_code == 200
    for text in ("planner", SUBMIT_ACTOR, "visibility-33521-HIPASSJ1318-21", "HIPASSJ1318-21_A_beam26_10arc_split"):
        assert text in one.text
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


# -- pages: escaping and forms ---------------------------------------------------------------------------------


def test_pages_escape_what_users_typed(ui: Ui) -> None:
    with ui.client("editor") as editor:
        created = editor.post("/api/sources/ESCAPE", json={"source_id": "HIPASSJ1500-01", "description": SCRIPT})
    assert created.status_code == 201
    with ui.client("viewer", cookie=True) as browser:
        listed = browser.get("/sources", params={"survey": "ESCAPE"})
        searched = browser.get("/sources", params={"search": SCRIPT})
        bad_survey = browser.get("/sources", params={"survey": SCRIPT})
    for page in (listed, searched, bad_survey):
        assert page.text.count("<script") == 1  # only our own file (static/airflow-links.js)
        assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listed.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in searched.text
    assert bad_survey.status_code == 422
    assert "&lt;script&gt;" in bad_survey.text


def test_cookie_writes_must_come_from_this_site(ui: Ui) -> None:
    form = {"survey": "WALLABY", "source_id": "HIPASSJ1303+07", "enabled": "false"}
    with ui.client("editor", cookie=True) as browser:
        cross_site = browser.post("/sources/enabled", data=form, headers={"Sec-Fetch-Site": "cross-site"})
        same_site = browser.post("/sources/enabled", data=form, headers={"Sec-Fetch-Site": "same-site"})
        foreign = browser.post("/sources/enabled", data=form, headers={"Origin": "http://evil.example"})
        unmarked = browser.post("/sources/enabled", data=form)
        api = browser.post("/api/sources/WALLABY/disable", json={"source_ids": ["HIPASSJ1303+07"]},
                           headers={"Origin": "http://evil.example"})  # fmt: skip
        assert _ids(browser.get("/api/sources", params={"survey": "WALLABY", "enabled": "false"})) == []
        origin = browser.post("/sources/enabled", data=form, headers={"Origin": ui.server.url})
        assert origin.status_code == 303
        back_on = browser.post("/sources/enabled", data=form | {"enabled": "true"}, headers=SAME_ORIGIN)
    for answer in (cross_site, same_site, foreign, unmarked, api):
        assert answer.status_code == 403, answer.text
    assert back_on.status_code == 303
    assert back_on.headers["location"] == "/beampipe/sources?done=enabled&source=HIPASSJ1303%2B07"


def test_upload_form_shows_each_bad_line(ui: Ui) -> None:
    bad = b"source_id,vsys\nHIPASSJ1600-01,1200\nHIPASSJ1600-02,fast\n"
    with ui.client("editor", cookie=True) as browser:
        page = browser.post(
            "/sources/upload",
            data={"survey": "FORM"},
            files={"file": ("bad.csv", bad, "text/csv")},
            headers=SAME_ORIGIN,
        )
        good = browser.post(
            "/sources/upload",
            data={"survey": "FORM", "disabled": "on"},
            files={"file": ("good.json", json.dumps([{"Name": "HIPASSJ1600-01"}]).encode(), "application/json")},
            headers=SAME_ORIGIN,
        )
        listed = browser.get("/api/sources", params={"survey": "FORM"}).json()["items"]
    assert page.status_code == 422
    assert "bad.csv: 1 problem(s), nothing imported" in page.text
    assert "<td>line 3</td><td><code>vsys_kms</code></td>" in page.text
    assert good.headers["location"] == "/beampipe/sources?survey=FORM&created=1&existing=0"
    assert [(s["source_id"], s["enabled"]) for s in listed] == [("HIPASSJ1600-01", False)]


# -- a real browser --------------------------------------------------------------------------------------------


def test_in_the_browser(ui: Ui, tmp_path: Path) -> None:
    from tests.e2e.ui_browser import Browser

    shots = Path(os.environ.get("BEAMPIPE_SCREENSHOTS") or tmp_path)
    targets = tmp_path / "wallaby_targets.csv"
    targets.write_text(
        "Name,RA,Dec,Vsys\n"
        "HIPASSJ1300-12, 13:00:17.2, -12:20:48,1580\n"
        "HIPASSJ1300-13, 13:00:52.9, -13:26:59,2554\n"
        "HIPASSJ1300-13B, 13:00:58.0, -13:31:27,1309\n"
    )
    with Browser(ui.server.url, shots) as browser:
        browser.log_in("editor", ui.server.passwords["editor"])
        browser.open_from_menu("Browse", "Beampipe sources")
        browser.shot("01-sources")

        browser.upload("WALLABY", targets)
        assert browser.notice() == "3 source(s) registered, 0 already registered."
        assert {"HIPASSJ1300-12", "HIPASSJ1300-13", "HIPASSJ1300-13B"} <= set(browser.listed_sources())
        browser.shot("02-registered")

        browser.toggle("HIPASSJ1300-13B")
        assert browser.notice() == "HIPASSJ1300-13B disabled."
        assert browser.source_status("HIPASSJ1300-13B") == "disabled"
        browser.shot("03-disabled")

        bad = tmp_path / "bad.csv"
        bad.write_text("Name,RA\nHIPASSJ1301-01,13:01:00\nHIPASSJ1301-02,13:99:00\n")
        browser.upload("WALLABY", bad)
        assert browser.problems() == [["line 3", "ra", "'13:99:00' is out of range"]]
        browser.shot("04-upload-errors")

        browser.open_from_menu("Browse", "Beampipe runs")
        assert set(browser.listed_runs()) == {ui.seeded.done, ui.seeded.planned}
        browser.shot("05-runs")
        browser.open_run(ui.seeded.done)
        browser.shot("06-run")
        assert browser.follow_task_link() == ui.server.url + TASK_URL  # Airflow's page, in Airflow's layout
        browser.shot("07-task-instance")

        title, operations = browser.open_docs()  # offline: every file comes from this server
        assert title.startswith("Beampipe")
        assert {"/api/sources", "/api/runs/{run_key}", "/api/sources/{survey}/bulk"} <= set(operations)
        browser.shot("08-api-docs")

    with ui.client("viewer") as viewer:  # what the browser did is in the ledger
        disabled = viewer.get("/api/sources", params={"survey": "WALLABY", "enabled": "false"})
    assert _ids(disabled) == ["HIPASSJ1300-13B"]
