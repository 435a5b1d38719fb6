"""YAML files validated by pydantic: one loader, so every bad file names its source, the field and the reason.

The loader is bounded (`common.limits`): collections nest at most MAX_NESTING deep (deeper, PyYAML's recursive
composer would raise RecursionError), and a document with its aliases expanded has at most MAX_YAML_NODES nodes
(a "billion laughs" document is a few lines that expand to 10^9 nodes once walked, e.g. when a run key is hashed).
"""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode

from beampipe_provider.common.limits import MAX_NESTING, MAX_YAML_NODES

M = TypeVar("M", bound=BaseModel)


class YamlTooLarge(ValueError):
    """A YAML document past a bound; the message names the field."""


class BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses nesting past MAX_NESTING and documents whose aliases expand past MAX_YAML_NODES."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if parent is not None:
            self._path.append(str(index.value) if isinstance(index, ScalarNode) else str(index))
        if len(self._path) > MAX_NESTING:
            raise YamlTooLarge(f"{_field(self._path[:3])}: nested more than {MAX_NESTING} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            if parent is not None:
                self._path.pop()

    def get_single_node(self) -> Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _field(path: list[str]) -> str:
    return ".".join(path) or "(document)"


def _children(node: Node) -> list[tuple[str, Node]]:
    if isinstance(node, MappingNode):
        return [(str(k.value) if isinstance(k, ScalarNode) else "?", v) for k, v in node.value]
    if isinstance(node, CollectionNode):
        return [(str(i), v) for i, v in enumerate(node.value)]
    return []


def _check_expansion(root: Node) -> None:
    """How many nodes the document has with every alias expanded; a shared node counts once per use. Memoised on
    node identity, so measuring costs the size of the document as written."""
    sizes: dict[int, int] = {}

    def size(node: Node, path: list[str]) -> int:
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                raise YamlTooLarge(f"{_field(path)}: an alias that refers to itself")
            return sizes[id(node)]
        sizes[id(node)] = -1
        total = 1 + sum(size(child, [*path, key]) for key, child in _children(node))
        sizes[id(node)] = total
        return total

    if size(root, []) <= MAX_YAML_NODES:
        return
    path, node = [], root  # name the deepest field that is too large on its own
    while child := next(((k, c) for k, c in _children(node) if sizes[id(c)] > MAX_YAML_NODES), None):
        path.append(child[0])
        node = child[1]
    raise YamlTooLarge(f"{_field(path)}: expands to more than {MAX_YAML_NODES} values (YAML aliases)")


def load_yaml(text: str) -> Any:
    """One YAML document within the bounds (raises yaml.YAMLError, or YamlTooLarge naming the field)."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_yaml_model(text: str, model: type[M], *, source: str, error: type[Exception]) -> M:
    """`model` from YAML `text`, or `error("<source>: <field>: <reason>; ...")` naming every problem."""
    what = model.__name__.lower()
    try:
        data = load_yaml(text)
    except YamlTooLarge as exc:
        raise error(f"{source}: {exc}") from None
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
