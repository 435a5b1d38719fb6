"""YAML files validated by pydantic: one loader, so every bad file names its source, the field and the reason."""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_yaml_model(text: str, model: type[M], *, source: str, error: type[Exception]) -> M:
    """`model` from YAML `text`, or `error("<source>: <field>: <reason>; ...")` naming every problem."""
    what = model.__name__.lower()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{source}: a {what} is a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise error(f"{source}: {problems}") from None
