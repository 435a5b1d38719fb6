"""Hostile values at every text interface of the API, the pages, the CLI and the YAML files.

Each value is refused with a message naming the field, or carried through inert: no 5xx, no markup rendered, no
half-written upload, no marker file. One api-server (SQLite ledger, as the UI tests) for the HTTP side; the CLI
runs in-process against SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from beampipe_provider.cli import main
from beampipe_provider.surveys.config import SurveyConfigError, load_survey
from beampipe_provider.workflow.facility import FacilityError, parse_facility
from tests.databases import fresh_database
from tests.e2e.conftest import AirflowEnv
from tests.e2e.test_ui_plugin import Ui
from tests.e2e.ui_server import USERS, UiServer, seed_ledger

pytestmark = pytest.mark.integration

MARKER = Path("/tmp/beampipe-hostile-marker")  # what a shell would create if any value were executed
HOSTILE = [
    "'",
    '"',
    "O'Brien\"; DROP TABLE sources; --",
    "x' OR '1'='1",
    "/* comment */",
    "# shell comment",
    "a; touch /tmp/beampipe-hostile-marker",
    "a && touch /tmp/beampipe-hostile-marker | cat > /tmp/x",
    "$(touch /tmp/beampipe-hostile-marker)",
    "`touch /tmp/beampipe-hostile-marker`",
    "line\nbreak",
    "carriage\rreturn",
    "nul\x00byte",
    "zero\u200bwidth",
    "\uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",  # fullwidth "fullwidth"
    "../../etc/passwd",
    "/etc/passwd",
    "%2e%2e%2fetc%2fpasswd",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "{{ 7*7 }}",
    "${7*7}",
    "x" * 5000,
]
WALLABY = Path(__file__).parents[2] / "dags"


@pytest.fixture(scope="module")
def ui(airflow_env: AirflowEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    work = tmp_path_factory.mktemp("hostile")
    seeded = seed_ledger(work / "ledger.db")
    server = UiServer(airflow_env, work, work / "ledger.db")
    server.start()
    try:
        yield Ui(server, seeded, {user: server.token(user) for user in USERS})
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def no_marker() -> Iterator[None]:
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a hostile value was run by a shell"


def refused_naming(answer: httpx.Response, field: str) -> bool:
    """A 4xx in the one error shape whose message or problems name `field`."""
    assert answer.status_code < 500, answer.text
    if answer.status_code < 400:
        return False
    body = answer.json()
    assert isinstance(body["detail"], str), body
    assert isinstance(body["problems"], list), body
    named = field in body["detail"] or any(field in p["field"] for p in body["problems"])
    assert named, (field, body)
    return True


def no_markup(page: httpx.Response, value: str) -> None:
    assert page.status_code < 500, page.text
    if "<" in value:
        assert value not in page.text  # escaped, never rendered


# -- item 1: the requests that used to crash -------------------------------------------------------------------


def test_requests_that_crashed_are_clear_4xx(ui: Ui) -> None:
    with ui.client("editor") as api, ui.client("viewer", cookie=True) as browser:
        for path in ("/api/sources", "/api/runs"):
            assert refused_naming(api.get(path, params={"after": 2**63}), "after")
        for path in ("/sources", "/runs"):
            page = browser.get(path, params={"after": 2**63})
            assert page.status_code == 422
            assert "after" in page.text
        csv_body = "source_id,description\nHIPASSJ0100-01," + "d" * 200_000 + "\n"
        long_field = api.post("/api/sources/HOSTILE/bulk", content=csv_body, headers={"content-type": "text/csv"})
        assert long_field.status_code == 422
        assert "line 2" in long_field.text
        deep = api.post("/api/sources/HOSTILE", content="[" * 50_000 + "]" * 50_000,
                        headers={"content-type": "application/json"})  # fmt: skip
        assert deep.status_code == 400
        assert "nested" in deep.json()["detail"]
        huge = api.post("/api/sources/HOSTILE", content='{"source_id": "A", "vsys_kms": ' + "9" * 5000 + "}",
                        headers={"content-type": "application/json"})  # fmt: skip
        assert huge.status_code == 400
        assert "number" in huge.json()["detail"]
        for constant in ("NaN", "Infinity", "-Infinity"):
            nan = api.post("/api/sources/HOSTILE", content='{"source_id": "A", "vsys_kms": ' + constant + "}",
                           headers={"content-type": "application/json"})  # fmt: skip
            assert nan.status_code == 400
            assert constant in nan.json()["detail"]
        assert refused_naming(api.post("/api/sources/HOSTILE", json={"source_id": "A", "description": "a\x00b"}),
                              "description")  # fmt: skip
        assert refused_naming(api.get("/api/sources", params={"search": "\x00"}), "search")
        assert refused_naming(api.post("/api/sources/HOSTILE", json={"source_id": "A", "vsys_kms": False}),
                              "vsys_kms")  # fmt: skip
        big = api.post("/api/sources/HOSTILE/bulk", content=b"x" * (6 * 1024 * 1024),
                       headers={"content-type": "text/csv"})  # fmt: skip
        assert big.status_code == 413


def test_a_tampered_token_and_a_foreign_scheme(ui: Ui) -> None:
    token = ui.tokens["editor"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with ui.client() as anonymous:
        answer = anonymous.get("/api/sources", headers={"Authorization": f"Bearer {tampered}"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    https_origin = ui.server.url.replace("http://", "https://")
    with ui.client("editor", cookie=True) as browser:
        form = {"survey": "WALLABY", "source_id": "HIPASSJ1318-21", "enabled": "true"}
        assert browser.post("/sources/enabled", data=form, headers={"Origin": https_origin}).status_code == 403
        assert browser.post("/sources/enabled", data=form, headers={"Origin": ui.server.url}).status_code == 303


# -- item 6: every API field, path part and page query ---------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_api_and_pages(ui: Ui, value: str) -> None:
    with ui.client("editor") as api, ui.client("viewer", cookie=True) as browser:
        created = api.post("/api/sources/HOSTILE", json={"source_id": value})
        if not refused_naming(created, "source_id"):
            assert created.json()["source"]["source_id"] == value.strip()
        described = api.post("/api/sources/HOSTILE", json={"source_id": "HIPASSJ0001-01", "description": value})
        refused_naming(described, "description")
        for field in ("ra", "dec"):
            assert refused_naming(api.post("/api/sources/HOSTILE", json={"source_id": "B", field: value}), field)
        survey = api.post(f"/api/sources/{quote(value, safe='')}", json={"source_id": "A"})
        if "/" in value or "\n" in value:  # more path parts, or a path the api-server mounts nothing at
            assert survey.status_code in (404, 405)
        else:
            assert refused_naming(survey, "survey")
        for path in (
            f"/api/sources/HOSTILE/{quote(value, safe='')}",
            f"/api/sources/{quote(value, safe='')}/A",
            f"/api/runs/{quote(value, safe='')}",
        ):
            assert api.get(path).status_code in (400, 404, 405, 422), path
        for path, params in (
            ("/api/sources", {"search": value}),
            ("/api/sources", {"survey": value}),
            ("/api/runs", {"source_id": value}),
            ("/api/runs", {"survey": value}),
        ):
            assert api.get(path, params=params).status_code in (200, 400, 422), params
        for verb in ("enable", "disable"):
            toggled = api.post(f"/api/sources/HOSTILE/{verb}", json={"source_ids": [value]})
            assert toggled.status_code in (404, 422)
            assert toggled.json()["detail"]
        _bulk_is_all_or_nothing(api, value)
        for path, params in (
            ("/sources", {"search": value, "survey": "HOSTILE"}),
            ("/sources", {"survey": value}),
            ("/runs", {"source": value, "survey": "WALLABY"}),
            ("/runs", {"survey": value}),
        ):
            no_markup(browser.get(path, params=params), value)
        no_markup(browser.get(f"/runs/{quote(value, safe='')}"), value)
        no_markup(browser.get("/sources", params={"survey": "HOSTILE"}), value)


def _bulk_is_all_or_nothing(api: httpx.Client, value: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    good = f"HIPASSJ{abs(hash(value)) % 10_000:04d}+77"
    writer.writerows([["source_id", "description"], [good, "fine"], ["HIPASSJ0002-02", value], [value, "x"]])
    for content, kind in ((out.getvalue(), "text/csv"), (json.dumps([{"source_id": good}, {"source_id": value}]),
                                                         "application/json")):  # fmt: skip
        answer = api.post("/api/sources/BULKHOSTILE", content=content, headers={"content-type": kind})
        assert answer.status_code in (200, 400, 422), answer.text
        if answer.status_code != 200:
            assert api.get(f"/api/sources/BULKHOSTILE/{good}").status_code == 404  # nothing half-written


# -- the CLI, on both dialects --------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        assert main(["--db", url, "ledger", "upgrade"]) == 0
        yield url


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out + out.err


def test_cli_arguments_and_files(ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    datasets = tmp_path / "datasets.json"
    datasets.write_text(json.dumps([{"dataset_id": "d1", "survey": "WALLABY", "source_id": "S1"}]))
    for value in HOSTILE:
        for option in ("--workflow", "--workflow-version", "--scheduler", "--facility"):
            argv = {"--workflow": "wf", "--workflow-version": "1.0"} | {option: value}
            flat = [x for kv in argv.items() for x in kv]
            code, said = _cli(capsys, "--db", ledger, "runs", "plan", "--survey", "WALLABY",
                              "--datasets", str(datasets), *flat)  # fmt: skip
            if not (option == "--facility" and value in ("../../etc/passwd", "/etc/passwd")):  # a profile file
                assert code == 2, (option, value, said)
                assert option.removeprefix("--").replace("-", " ") in said, (option, value, said)
        code, said = _cli(capsys, "--db", ledger, "runs", "show", value)
        assert code == 2
        assert "key" in said
        sources = tmp_path / "sources.csv"
        with sources.open("w", newline="") as file:
            csv.writer(file).writerows([["source_id", "description"], ["HIPASSJ0003-03", value]])
        code, said = _cli(capsys, "--db", ledger, "sources", "import", str(sources), "--survey", "WALLABY")
        assert code == 0 or (code == 2 and f"{sources}: " in said and "line " in said), said
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps([{"dataset_id": "d2", "survey": "WALLABY", "filename": value, "checksum": value}]))
        code, said = _cli(capsys, "--db", ledger, "datasets", "record", str(bad))
        assert code == 0 or (code == 2 and "entry 1" in said), said
    runs = main(["--db", ledger, "runs", "list", "--json"])
    assert runs == 0
    assert all("$(" not in r["workflow"] for r in json.loads(capsys.readouterr().out))


def test_cli_crashes_are_messages(ledger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "long.csv": "source_id,description\nA," + "d" * 200_000 + "\n",
        "nul.csv": "source_id,description\nA,a\x00b\n",
        "deep.json": "[" * 50_000 + "]" * 50_000,
        "huge.json": '[{"source_id": "A", "vsys_kms": ' + "9" * 5000 + "}]",
        "nan.json": '[{"source_id": "A", "vsys_kms": NaN}]',
        "nuljson.json": json.dumps([{"source_id": "A", "description": "a\x00b"}]),
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        code, said = _cli(capsys, "--db", ledger, "sources", "import", str(path), "--survey", "WALLABY")
        assert code == 2, (name, said)
        assert f"{path}: " in said, (name, said)
        assert "line " in said or "entry " in said, (name, said)
    code, said = _cli(capsys, "--db", ledger, "runs", "plan", "--survey", "WALLABY", "--datasets", str(path),
                      "--workflow", "wf", "--workflow-version", "1", "--parameters", "[" * 50_000)  # fmt: skip
    assert code == 2
    assert "--parameters" in said


# -- survey and facility YAML ----------------------------------------------------------------------------------

FACILITY = "name: mysite\nlogin_host: login.example.org\ndlg_root: /scratch/$USER/dlg\n"
LAUGHS = "  parameters:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    {n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def _survey(tmp_path: Path, change: object) -> Path:
    copy = tmp_path / "dags"
    if not copy.exists():
        import shutil

        shutil.copytree(WALLABY, copy)
    path = copy / "surveys" / "wallaby_hires.yaml"
    config = yaml.safe_load((WALLABY / "surveys" / "wallaby_hires.yaml").read_text())
    assert callable(change)
    change(config)
    path.write_text(yaml.safe_dump(config))
    return path


def test_yaml_bounds_and_values(tmp_path: Path) -> None:
    deep = "sbatch: " + "[" * 50_000 + "]" * 50_000 + "\n"
    with pytest.raises(FacilityError, match=r"mysite.yaml: sbatch.*nested more than"):
        parse_facility(FACILITY + deep, source="mysite.yaml")
    path = _survey(tmp_path, lambda c: c["workflow"].pop("parameters"))
    text = path.read_text()
    at = text.index("workflow:\n") + len("workflow:\n")
    path.write_text(text[:at] + LAUGHS + text[at:])
    with pytest.raises(SurveyConfigError, match=r"workflow\.parameters.*expands to more than"):
        load_survey(path)
    path = _survey(tmp_path, lambda c: c["facility"].update(sbatch={"partition": "work; rm -rf /"}))
    with pytest.raises(SurveyConfigError, match=r"facility\.sbatch\.partition"):
        load_survey(path)
    for value in HOSTILE:
        for field in ("name", "version"):
            path = _survey(tmp_path, lambda c, f=field, v=value: c["workflow"].update({f: v}))
            with pytest.raises(SurveyConfigError, match=rf"workflow\.{field}"):
                load_survey(path)
        for field in ("name", "login_host", "dlg_root", "python", "container_runtime"):
            if field not in ("name", "login_host") and value in ("../../etc/passwd", "/etc/passwd"):
                continue  # a path on the site, of the operator's own profile: inert
            with pytest.raises(FacilityError, match=rf"^f\.yaml: {field}: "):
                parse_facility(FACILITY + yaml.safe_dump({field: value}), source="f.yaml")
