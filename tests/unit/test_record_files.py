"""Source lists and dataset files: the whole file is checked; every bad line is named; nothing half-imported."""

import json
from pathlib import Path

import pytest

from beampipe_provider.cli import bundled
from beampipe_provider.ledger.record_files import (
    RecordFileError,
    load_dataset_file,
    load_source_list,
    parse_source_list,
)

# The shape of the real WALLABY pilot-2 target list: mixed spacing, suffix case, non-HIPASS IDs.
WALLABY_HEAD = """Name,RA,Dec,Vsys
HIPASSJ1300-12, 13:00:17.2, -12:20:48,1580
HIPASSJ1300-13B, 13:00:58.0, -13:31:27,1309
HIPASSJ1300-15a, 13:00:26.3, -15:17:00,4921
ESO509-G040,13:31:15.70,-25:09:04.59,7912
HIPASSJ1303+07, 13:03:14.7,+07:48:08,2925
"""


def parse_csv(text):
    return parse_source_list(text, name="list.csv", fmt="csv")


def problems_of(text, fmt="csv"):
    with pytest.raises(RecordFileError) as info:
        parse_source_list(text, name=f"list.{fmt}", fmt=fmt)
    return [str(p) for p in info.value.problems]


def test_wallaby_format_is_read_as_is():
    records = parse_csv(WALLABY_HEAD)
    assert [r.source_id for r in records] == [
        "HIPASSJ1300-12",
        "HIPASSJ1300-13B",
        "HIPASSJ1300-15a",
        "ESO509-G040",
        "HIPASSJ1303+07",
    ]
    assert records[0].metadata == {"ra": "13:00:17.2", "dec": "-12:20:48", "vsys_kms": 1580.0}
    assert all(r.enabled for r in records)


def test_the_wallaby_survey_source_list_has_every_pilot2_target_once():
    records = load_source_list(Path(__file__).parents[2] / "dags" / "surveys" / "wallaby_hires_sources.csv")
    ids = [r.source_id for r in records]
    assert len(ids) == 72 == len({i.casefold() for i in ids})
    assert {"NGC5260", "LEDA803356", "HIPASSJ1300-15a", "HIPASSJ1009-43b"} <= set(ids)


def test_repeated_row_is_named_with_the_line_it_repeats():
    text = WALLABY_HEAD + "HIPASSJ1300-12, 13:00:17.2, -12:20:48,1580\n"
    assert problems_of(text) == ["line 7, source_id: duplicate of line 2 (HIPASSJ1300-12)"]


def test_ids_differing_only_in_case_are_one_source_typed_twice():
    assert problems_of(WALLABY_HEAD + "HIPASSJ1300-15A,13:00:26.3,-15:17:00,4921\n") == [
        "line 7, source_id: duplicate of line 4 (HIPASSJ1300-15A)"
    ]


def test_every_bad_line_is_reported_at_once():
    text = (
        "source_id,ra,dec\n"
        ",13:00:00,-10:00:00\n" + "X" * 65 + ",13:00:00,-10:00:00\n"  # empty  # too long
        "NGC\x075260,13:00:00,-10:00:00\n"  # control character
        "A;rm -rf /,13:00:00,-10:00:00\n"  # shell metacharacters
        "GOOD1,25:00:00,-10:00:00\n"  # RA out of range
        "GOOD2,13:00:00\n"  # short row
    )
    problems = problems_of(text)
    assert problems[0] == "line 2, source_id: String should have at least 1 character"
    assert problems[1] == "line 3, source_id: String should have at most 64 characters"
    assert problems[2].startswith("line 4, source_id: contains control")
    assert problems[3].startswith("line 5, source_id: not a valid source ID: 'A;rm -rf /'")
    assert problems[4] == "line 6, ra: '25:00:00' is out of range"
    assert problems[5] == "line 7, -: 2 cells, the header has 3"
    assert len(problems) == 6


def test_unknown_column_rejects_the_file():
    assert problems_of("Name,RA,Colour\nNGC5260,13:40:19.9,red\n")[0].startswith(
        "line 1, Colour: unknown column; known: dec, description, enabled, name"
    )


def test_missing_id_column_and_empty_file():
    assert problems_of("RA,Dec\n13:00:00,-10:00:00\n") == ["line 1, source_id: missing column (source_id or Name)"]
    assert problems_of("Name\n") == ["line 1, -: the file lists no sources"]


def test_enabled_column_and_blank_lines():
    records = parse_csv("source_id,enabled\nA,no\n\nB,yes\n")
    assert [(r.source_id, r.enabled) for r in records] == [("A", False), ("B", True)]


def test_json_list_and_object_forms():
    text = json.dumps({"sources": [{"name": "NGC5260", "vsys": 6502}, {"source_id": "LEDA803356", "enabled": False}]})
    records = parse_source_list(text, name="s.json", fmt="json")
    assert [(r.source_id, r.enabled, r.metadata) for r in records] == [
        ("NGC5260", True, {"vsys_kms": 6502.0}),
        ("LEDA803356", False, {}),
    ]
    assert problems_of('[{"name": "A", "colour": 1}, 7]', fmt="json") == [
        "entry 1, colour: unknown field; known: dec, description, enabled, name, ra, source_id, vsys, vsys_kms",
        "entry 2, -: expected an object",
    ]
    assert problems_of('[{"name": "A"},', fmt="json")[0].startswith("line 1, -: not JSON")


def test_dataset_file_names_entry_and_field(tmp_path):
    good = {"dataset_id": "visibility-1", "survey": "WALLABY", "source_id": "NGC5260", "size": 3}
    path = tmp_path / "d.json"
    path.write_text(json.dumps([good, good | {"size": -1}, good | {"colour": "red"}, {"survey": "WALLABY"}]))
    with pytest.raises(RecordFileError) as info:
        load_dataset_file(path)
    assert [str(p) for p in info.value.problems] == [
        "entry 2, size: Input should be greater than or equal to 0",
        "entry 3, colour: Extra inputs are not permitted",
        "entry 4, dataset_id: Field required",
    ]


def test_bundled_demo_datasets_are_valid():
    records = load_dataset_file(bundled("wallaby_demo_datasets.json"))
    assert len(records) == 15
    assert records[0].filename.endswith("_10arc_split.ms.tar")
