"""The bounds of common.limits and the bounded YAML loader, without a server."""

from __future__ import annotations

import json

import pytest

from beampipe_provider.common.limits import MAX_NESTING, InputTooLarge, check_text, load_json
from beampipe_provider.common.names import check_name
from beampipe_provider.common.yaml_models import YamlTooLarge, load_yaml
from beampipe_provider.ledger.record_files import RecordFileError, parse_source_list


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested more than"),
        ("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), "nested more than"),
        ("1" * 5000, "a number of 5000 characters"),
        ('{"a": NaN}', "NaN is not a number"),
        ("[-Infinity]", "-Infinity is not a number"),
    ],
)
def test_json_past_a_bound_is_refused(text: str, message: str) -> None:
    with pytest.raises(InputTooLarge, match=message):
        load_json(text)


def test_json_within_the_bounds_loads_as_json_does() -> None:
    text = '{"a": [1, 2.5, -3e5, true, null, "x"]}'
    assert load_json(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "[" * 50_000 + "]" * 50_000, r"^a\.0\.0: nested more than"),
        ("a: &a [*a]", r"^a\.0: an alias that refers to itself"),
        (
            "w:\n  p:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"    {n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
            ),
            r"^w\.p\.\w: expands to more than",
        ),
    ],
)
def test_yaml_past_a_bound_names_the_field(text: str, message: str) -> None:
    with pytest.raises(YamlTooLarge, match=message):
        load_yaml(text)


def test_yaml_aliases_within_the_bound_load() -> None:
    assert load_yaml("a: &x {b: 1}\nc: *x\n") == {"a": {"b": 1}, "c": {"b": 1}}


def test_text_and_names() -> None:
    with pytest.raises(InputTooLarge, match="search: contains control"):
        check_text("a\x00", "search")
    with pytest.raises(ValueError, match="workflow version"):
        check_name("1.0\n$(id)", "workflow version")
    assert check_name("wallaby-hires", "workflow") == "wallaby-hires"


def test_source_list_cells_and_nul() -> None:
    with pytest.raises(RecordFileError, match="line 2, -: not CSV: field larger than field limit"):
        parse_source_list("source_id,description\nA," + "d" * 200_000 + "\n", name="t.csv", fmt="csv")
    with pytest.raises(RecordFileError, match="line 2, -: a cell of 5000 characters"):
        parse_source_list("source_id,description\nA," + "d" * 5000 + "\n", name="t.csv", fmt="csv")
    with pytest.raises(RecordFileError, match="entry 1, description: contains NUL"):
        parse_source_list(json.dumps([{"source_id": "A", "description": "a\x00"}]), name="t.json", fmt="json")
    with pytest.raises(RecordFileError, match="entry 1, vsys_kms: a number, not true or false"):
        parse_source_list(json.dumps([{"source_id": "A", "vsys_kms": False}]), name="t.json", fmt="json")
