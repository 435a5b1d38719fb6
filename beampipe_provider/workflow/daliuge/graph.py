"""Logical graphs (EAGLE's .graph JSON, as DALiuGE 6.6 reads it), edited without importing DALiuGE.

A run's graph is the survey's graph with three things filled in: the list of staged input paths in the node the
scatter reads (`inputs_node`, a Memory drop's `pydata`), the scatter width and the gather width (the number of
datasets), and any `node.field` overrides from the run's parameters."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from beampipe_provider.common.canonical import sha256_hex


class GraphError(ValueError):
    """A logical graph that cannot be prepared; names the node and field."""


def load_graph(path: str | Path) -> dict[str, Any]:
    try:
        graph: Any = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GraphError(f"{path}: not a readable logical graph: {exc}") from None
    if not isinstance(graph, dict) or not isinstance(graph.get("nodeDataArray"), list):
        raise GraphError(f"{path}: not a logical graph (no nodeDataArray)")
    return dict(graph)


def graph_sha256(graph: Any) -> str:
    """Of the canonical JSON, so key order and whitespace do not change the hash."""
    return sha256_hex(graph)


def _node(graph: Mapping[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [n for n in graph["nodeDataArray"] if name in (n.get("name"), n.get("id"))]
    if len(found) != 1:
        names = ", ".join(sorted(str(n.get("name")) for n in graph["nodeDataArray"]))
        raise GraphError(f"node {name!r}: {'not found' if not found else 'ambiguous'}; nodes: {names}")
    return found[0]


def set_field(graph: dict[str, Any], node: str, field: str, value: Any) -> None:
    """Set a field of a node, or of the application inside a scatter/gather construct."""
    target = _node(graph, node)
    hits = [f for key in ("fields", "inputAppFields") for f in target.get(key, []) if f.get("name") == field]
    if not hits:
        raise GraphError(f"node {node!r} has no field {field!r}")
    for f in hits:
        f["value"] = value


def constructs(graph: Mapping[str, Any], category: str) -> list[str]:
    return [str(n["name"]) for n in graph["nodeDataArray"] if n.get("category") == category]


def prepare_graph(
    graph: Mapping[str, Any],
    *,
    inputs: Sequence[str],
    inputs_node: str,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's graph: input paths into `inputs_node`, every Scatter `num_of_copies` and Gather `num_of_inputs` set
    to the number of inputs, then `overrides` ({"node.field": value}). The original is not modified."""
    if not inputs:
        raise GraphError("a run needs at least one input")
    patched = copy.deepcopy(dict(graph))
    set_field(patched, inputs_node, "pydata", json.dumps(list(inputs)))
    for scatter in constructs(patched, "Scatter"):
        set_field(patched, scatter, "num_of_copies", len(inputs))
    for gather in constructs(patched, "Gather"):
        set_field(patched, gather, "num_of_inputs", len(inputs))
    for key, value in (overrides or {}).items():
        node, dot, field = key.rpartition(".")
        if not dot or not node:
            raise GraphError(f"override {key!r}: expected 'node.field'")
        set_field(patched, node, field, value)
    return patched
