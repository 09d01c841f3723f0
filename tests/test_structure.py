"""The shape of the tree, read with `ast`: imports run one way, SQL stays in db/,
modules and functions stay short enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from db import models
from db.session import session_scope

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "db", "dashboard")
CHECKED = (*PACKAGES, "bench", "tests")  # everything but migrations/
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ORM_NAMES = {name for name, value in vars(models).items()
             if isinstance(value, type) and issubclass(value, models.Base)
             and value is not models.Base and hasattr(value, "__table__")}


def _files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if ".venv" not in path.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _project_graph() -> dict[str, set[str]]:
    known = {_module_name(path) for path in _files(*PACKAGES)}
    graph: dict[str, set[str]] = {}
    for path in _files(*PACKAGES):
        edges = set()
        for module, names in _imports(ast.parse(path.read_text())):
            targets = [f"{module}.{name}" for name in names if f"{module}.{name}" in known]
            edges.update(targets or ([module] if module in known else []))
        graph[_module_name(path)] = edges - {_module_name(path)} - set(PACKAGES)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_project_modules() -> None:
    assert _cycles(_project_graph()) == []


def test_db_imports_neither_engine_nor_dashboard() -> None:
    upward = [(_module_name(path), module) for path in _files("db")
              for module, _ in _imports(ast.parse(path.read_text()))
              if module.split(".")[0] in ("engine", "dashboard")]
    assert upward == []


def test_engine_never_imports_dashboard() -> None:
    upward = [(_module_name(path), module) for path in _files("engine")
              for module, _ in _imports(ast.parse(path.read_text()))
              if module.split(".")[0] == "dashboard"]
    assert upward == []


def test_sql_stays_in_db() -> None:
    """No session_scope and no ORM class outside db/ and migrations/ (tests aside)."""
    assert {"Run", "Prediction", "Upload"} <= ORM_NAMES and callable(session_scope)
    offenders = []
    for path in _files("engine", "dashboard", "bench"):
        for module, names in _imports(ast.parse(path.read_text())):
            used = ({"session_scope"} & set(names) if module == "db.session" else set())
            used |= ORM_NAMES & set(names) if module == "db.models" else set()
            if module == "db" and "models" in names:
                used.add("models")
            if used:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(used)}")
    assert offenders == []


@pytest.mark.parametrize("folder", CHECKED)
def test_modules_are_at_most_400_lines(folder: str) -> None:
    long = {str(path.relative_to(ROOT)): count for path in _files(folder)
            if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


@pytest.mark.parametrize("folder", CHECKED)
def test_functions_are_at_most_60_lines(folder: str) -> None:
    long = {}
    for path in _files(folder):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = length
    assert long == {}


def test_db_returns_no_bare_tuples() -> None:
    """db/ hands back named dataclasses (or a DataFrame a table or figure consumes whole):
    a function annotated to return a tuple, or a list of them, is a bare tuple."""
    found = []
    for path in _files("db"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
                returned = ast.unparse(node.returns).replace(" ", "")
                if returned.startswith(("tuple", "list[tuple", "Optional[tuple")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert found == []
