"""The house rules of DESIGN.md, checked on the source: a reader can trust them without reading every module."""

from __future__ import annotations

import ast
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "beampipe_provider"
CORE = ("common", "ledger", "archive", "scheduler", "workflow", "provenance", "runs")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(path: Path, modules: AbstractSet[str] = frozenset()) -> set[str]:
    """Every module `path` imports, lazily inside a function or not. `from package import submodule` depends on
    the submodule, not on the package's own names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            names.update(submodules)
            if len(submodules) < len(node.names):
                names.add(node.module)
    return names


@pytest.mark.parametrize("room", CORE)
def test_core_rooms_import_nothing_of_airflow(room: str) -> None:
    offenders = [
        f"{name}: {imported}"
        for name, path in _modules().items()
        if name.split(".")[1:2] == [room]
        for imported in _imports(path)
        if imported == "airflow"
        or imported.startswith(("airflow.", "beampipe_provider.hooks", "beampipe_provider.operators"))
    ]
    assert offenders == []


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_operators_reach_archives_and_engines_only_through_their_protocols() -> None:
    direct = [
        f"{name}: {imported}"
        for name, path in _modules().items()
        if name.startswith("beampipe_provider.operators.")
        for imported in _imports(path)
        if imported.startswith(("beampipe_provider.archive.casda", "beampipe_provider.workflow.daliuge"))
    ]
    assert direct == []


def test_the_package_has_no_import_cycles() -> None:
    modules = _modules()
    graph = {
        name: {imported for imported in _imports(path, set(modules)) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
