"""Hostile values at every text interface: the API, the pages, the CLI, the YAML files, sbatch options, graph
parameters and overrides, archive file names and URLs, and, through real Airflow runs, a product name that is a
shell command (staged and processed by a real DALiuGE job with nothing run) and run keys that are paths.

Each value is refused with a message naming the field, or carried through inert: no 5xx, no markup rendered, no
half-written upload, no marker file, no path outside its directory. One api-server (SQLite ledger, as the UI tests)
for the HTTP side; the CLI runs in-process against SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from pydantic import ValidationError

from beampipe_provider.archive.casda.discovery import SurveyRules, discover
from beampipe_provider.archive.tap import TapClient
from beampipe_provider.cli import main
from beampipe_provider.common.names import local_file_name
from beampipe_provider.ledger.records import DatasetRecord, SourceRecord
from beampipe_provider.ledger.states import RunState
from beampipe_provider.scheduler.base import InvalidJobOption
from beampipe_provider.scheduler.slurm import sbatch_argv, sbatch_options
from beampipe_provider.surveys.config import SurveyConfigError, load_survey
from beampipe_provider.workflow.daliuge.bundle import make_bundle
from beampipe_provider.workflow.daliuge.graph import load_graph
from beampipe_provider.workflow.facility import FacilityError, parse_facility
from tests.databases import fresh_database
from tests.e2e.conftest import AirflowEnv
from tests.e2e.test_daliuge_operator import run_graph
from tests.e2e.test_slurm_operator import staged_run
from tests.e2e.test_ui_plugin import Ui, running_ui
from tests.e2e.workflow_runs import run_dir

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
    with running_ui(airflow_env, tmp_path_factory.mktemp("hostile")) as running:
        yield running


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


LOCAL = r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,199}"


@pytest.fixture
def stage_dir() -> Iterator[Path]:
    """Where the job's user can read staged files (pytest's tmp_path is private to root)."""
    directory = Path("/tmp", f"beampipe-e2e-{uuid.uuid4().hex[:8]}")
    directory.mkdir(mode=0o755)
    yield directory
    shutil.rmtree(directory)


def casda_connection(casda) -> str:
    return json.dumps(
        {
            "conn_type": "casda",
            "login": "opal-user@example.org",
            "password": "opal-password",
            "extra": {
                "tap_url": casda.tap_url,
                "soda_url": casda.base_url + "/casda_data_access",
                "allow_http_loopback": True,
            },
        }
    )


def test_a_hostile_product_name_is_processed_and_nothing_runs(airflow_env, slurm, casda, tmp_path, stage_dir) -> None:
    store, _, env = staged_run(tmp_path)  # the ledger; this test plans its own run below
    source = f"HIPASSJ{uuid.uuid4().hex[:6]}"
    sbid = 40_000 + int(uuid.uuid4().hex[:4], 16) % 9_000
    markers = [stage_dir / "PWNED-1", Path("/tmp", f"beampipe-pwned-{uuid.uuid4().hex}"), "PWNED-3"]
    hostile = f"{source}_A_beam00'$(touch {markers[0]})'`touch {markers[1]}`;touch {markers[2]}|(id)&<x>.ms.tar"
    casda.deposit(sbid, [source], names={f"visibility-{sbid * 100}": hostile})
    rules = SurveyRules(survey="WALLABY", project_codes=["AS102"], dataproduct_types=["visibility"])
    found = discover(TapClient(casda.tap_url), rules, since=None)
    store.register_sources("WALLABY", [SourceRecord(source_id=source)])
    store.record_datasets(found.datasets)
    ids = [d.dataset_id for d in found.datasets if d.source_id == source]
    assert [d.filename for d in found.datasets if d.source_id == source] == [hostile]
    (run_key,) = store.plan_runs("WALLABY", ids, workflow="wallaby-hires", workflow_version="1").created

    env |= {"AIRFLOW_CONN_CASDA_DEFAULT": casda_connection(casda)}
    conf = json.dumps({"run_key": run_key, "directory": str(stage_dir)})
    airflow_env.airflow("dags", "test", "beampipe_casda_stage", "--conf", conf, env=env)
    assert store.get_run(run_key).state is RunState.STAGED
    (staged,) = (stage_dir / run_key).iterdir()
    assert re.fullmatch(LOCAL, staged.name)
    assert staged.name.endswith(".ms.tar")
    for path in (stage_dir, stage_dir / run_key):
        path.chmod(0o755)
    staged.chmod(0o644)

    datasets = [{"dataset_id": ids[0], "path": str(staged), "archive_name": hostile}]
    run_graph(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets})
    assert store.get_run(run_key).state is RunState.SUCCEEDED
    where = run_dir(slurm, run_key)
    (line,) = (where / "outputs" / "summary.txt").read_text().splitlines()
    assert line.split()[-1] == staged.name  # processed, under its local name
    assert not Path(markers[0]).exists()
    assert not Path(markers[1]).exists()
    assert not list(where.rglob("PWNED*"))
    assert not list(stage_dir.rglob("PWNED*"))


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    if not directory.exists():
        return {}
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in [directory, *directory.rglob("*")]}


@pytest.mark.parametrize("run_key", ["../../.ssh", "../../../tmp/x", "a/b"])
def test_a_hostile_run_key_fails_naming_it_and_writes_nothing(airflow_env, slurm, tmp_path, run_key: str) -> None:
    _, _, env = staged_run(tmp_path)
    ssh = Path("/home", slurm.user, ".ssh")
    runs = Path("/home", slurm.user, "dlg", "runs")
    before, runs_before = _snapshot(ssh), sorted(os.listdir(runs)) if runs.exists() else []
    datasets = [{"dataset_id": "d", "path": "/tmp/none.ms.tar"}]
    out = run_graph(airflow_env, slurm, env, {"run_key": run_key, "datasets": datasets}, check=False)
    log = out.stdout + out.stderr
    assert out.returncode != 0 or "failed" in log.lower()
    assert "run_key" in log
    assert "not a run key" in log
    assert _snapshot(ssh) == before
    assert not [
        n for n in (sorted(os.listdir(runs)) if runs.exists() else []) if n not in runs_before and n.startswith(".")
    ]


def test_a_hostile_run_key_fails_the_stage_task_before_anything_is_written(airflow_env, casda, tmp_path) -> None:
    _, _, env = staged_run(tmp_path)
    env |= {"AIRFLOW_CONN_CASDA_DEFAULT": casda_connection(casda)}
    target = tmp_path / "staged"
    conf = json.dumps({"run_key": "../../escaped", "directory": str(target / "a" / "b")})
    out = airflow_env.airflow("dags", "test", "beampipe_casda_stage", "--conf", conf, env=env, check=False)
    log = out.stdout + out.stderr
    assert "run_key '../../escaped': not a run key" in log
    assert not target.exists()
    assert not (tmp_path / "escaped").exists()


# -- what reaches Slurm, the workflow and the archive: sbatch options, graph parameters, archive names and URLs --

SBATCH_FIELDS = (
    "account",
    "partition",
    "clusters",
    "qos",
    "reservation",
    "constraint",
    "nodes",
    "mem",
    "time",
    "array",
    "dependency",
    "output",
    "error",
    "chdir",
    "comment",
)


@pytest.mark.parametrize("field", SBATCH_FIELDS)
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_sbatch_options_refuse_or_quote_every_value(field: str, value: str) -> None:
    try:
        options = sbatch_options(job_name="bp-hostile", **{field: value})
    except InvalidJobOption as refused:
        refusal = refused
    else:
        refusal = None
    if refusal is not None:
        assert refusal.option == field  # refused, naming the option
        return
    argv = sbatch_argv(options)
    assert shlex.split(shlex.join(argv)) == argv  # one token per option: nothing a remote shell could run


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_sbatch_extra_refuses_every_hostile_key(value: str) -> None:
    with pytest.raises(InvalidJobOption, match="extra"):
        sbatch_options(job_name="bp-hostile", extra={value: "1"})


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_graph_parameters_and_overrides_are_carried_as_data(value: str) -> None:
    graph = load_graph(WALLABY / "graphs" / "wallaby_hires_demo.graph")
    bundle = make_bundle(
        graph,
        run_key="k" * 64,
        datasets=[{"path": "/scratch/in/HIPASSJ1318-21_A_beam00_10arc_split.ms.tar"}],
        parameters={"summary.filepath": value, "note": value},
        inputs_node="inputs",
        outputs_dir="/scratch/out",
    )
    manifest = json.loads(bundle.files["manifest.json"])
    assert manifest["parameters"] == {"summary.filepath": value, "note": value}  # byte for byte, as data
    patched = json.loads(bundle.files["logical.graph"])
    (summary,) = [n for n in patched["nodeDataArray"] if n.get("name") == "summary"]
    assert [f["value"] for f in summary["fields"] if f["name"] == "filepath"] == [value]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_archive_names_become_plain_local_names(value: str) -> None:
    local = local_file_name(value)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+\-]{0,199}", local)
    assert ".." not in local
    assert local_file_name(value) == local  # deterministic


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_access_urls_with_hostile_text_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(ValidationError, match="access_url"):
        DatasetRecord(dataset_id="d", survey="WALLABY", access_url=value)
