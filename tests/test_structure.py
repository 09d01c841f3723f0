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
            in_models = module == "db.models" or module.startswith("db.models.")
            used |= ORM_NAMES & set(names) if in_models else set()
            if module == "db" and "models" in names or module.startswith("db.models."):
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


# The concept map: the command line is its own package over the engine, settings are
# declared once, and nothing hands a value along through the environment.
SETTINGS_MODULES = {"db/settings.py"}  # engine/settings.py re-exports it
NOT_COMMAND_LINE = ("torch", "torchvision", "numpy", "pandas", "sklearn", "cv2")


def _imports_of(folder: str, exclude: str | None = None) -> list[tuple[str, str]]:
    return [(str(path.relative_to(ROOT)), module) for path in _files(folder)
            if exclude is None or not str(path.relative_to(ROOT)).startswith(exclude)
            for module, _ in _imports(ast.parse(path.read_text()))]


def test_only_the_command_line_imports_the_command_line() -> None:
    """engine/cli/ sits on top: nothing in engine/ (outside it), db/ or dashboard/ imports it.
    (The tests drive it, and bench/ times `cxr score` as a user runs it.)"""
    offenders = [(path, module) for folder in PACKAGES
                 for path, module in _imports_of(folder, exclude="engine/cli/")
                 if module == "engine.cli" or module.startswith("engine.cli.")]
    assert offenders == []


def test_command_line_modules_compute_nothing() -> None:
    """No torch (nor numpy, pandas, scikit-learn, OpenCV) in engine/cli/, at any depth."""
    offenders = [(path, module) for path, module in _imports_of("engine/cli")
                 if module.split(".")[0] in NOT_COMMAND_LINE]
    assert offenders == []


def test_importing_the_command_line_loads_no_torch() -> None:
    """Directly or through what they import, the command-line modules load no torch at import
    time: `cxr --help` stays instant and the heavy work happens in the engine, when called."""
    import subprocess
    import sys

    modules = [_module_name(path) for path in _files("engine/cli")
               if path.name != "__main__.py"]
    code = (f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{NOT_COMMAND_LINE!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def _environ_uses(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, "read"/"write", name) of every os.environ / os.getenv use naming a CXR_* string."""
    found = []

    def cxr(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith("CXR_"):
            return node.value
        return None

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_environ(node.value) and cxr(node.slice):
            kind = "read" if isinstance(node.ctx, ast.Load) else "write"
            found.append((node.lineno, kind, cxr(node.slice)))
        elif isinstance(node, ast.Call) and node.args and cxr(node.args[0]):
            function = node.func
            if isinstance(function, ast.Attribute) and is_environ(function.value):
                kind = "read" if function.attr == "get" else "write"
                found.append((node.lineno, kind, cxr(node.args[0])))
            elif isinstance(function, ast.Attribute) and function.attr in ("getenv", "putenv"):
                found.append((node.lineno, "read" if function.attr == "getenv" else "write",
                              cxr(node.args[0])))
        elif isinstance(node, ast.Compare) and cxr(node.left) \
                and any(is_environ(right) for right in node.comparators):
            found.append((node.lineno, "read", cxr(node.left)))
    return found


def test_the_environ_finder_finds_reads_and_writes() -> None:
    tree = ast.parse("import os\nos.environ.get('CXR_A')\nos.environ['CXR_B']\n"
                     "os.getenv('CXR_C')\nos.environ['CXR_D'] = '1'\n'CXR_E' in os.environ\n"
                     "os.environ.setdefault('CXR_F', '1')\nos.environ.get('HOME')\n")
    assert sorted(_environ_uses(tree)) == [
        (2, "read", "CXR_A"), (3, "read", "CXR_B"), (4, "read", "CXR_C"),
        (5, "write", "CXR_D"), (6, "read", "CXR_E"), (7, "write", "CXR_F")]


def test_settings_are_read_only_in_the_settings_module() -> None:
    """Every CXR_* variable is read through db/settings.py (engine.settings re-exports it)."""
    offenders = [f"{path.relative_to(ROOT)}:{line} {name}"
                 for path in _files(*PACKAGES, "bench", "migrations")
                 if str(path.relative_to(ROOT)) not in SETTINGS_MODULES
                 for line, kind, name in _environ_uses(ast.parse(path.read_text()))
                 if kind == "read"]
    assert offenders == []


def test_nothing_passes_a_value_through_the_environment() -> None:
    """A device or a flag is passed as an argument, never written into os.environ. (The tests
    and the benches may set a variable to configure a process they start.)"""
    offenders = [f"{path.relative_to(ROOT)}:{line} {name}" for path in _files(*PACKAGES)
                 for line, kind, name in _environ_uses(ast.parse(path.read_text()))
                 if kind == "write"]
    assert offenders == []


def test_every_setting_is_declared_once_with_a_doc() -> None:
    from db import settings
    from engine import settings as engine_settings

    names = [setting.name for setting in settings.ALL]
    assert len(names) == len(set(names)) and all(setting.doc for setting in settings.ALL)
    assert all(getattr(settings, name).name == name for name in names)
    assert engine_settings.ALL == settings.ALL
