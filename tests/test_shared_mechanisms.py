"""Small mechanisms written once, read with `ast`: files are written through db.files.atomic_write,
stored text is cut to its column's declared length, and comments carry no issue numbers."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from sqlalchemy import String

ROOT = Path(__file__).resolve().parent.parent
CODE = ("engine", "db", "dashboard", "bench")
ATOMIC_WRITE = ROOT / "db" / "files.py"
HISTORY = re.compile(r"\bissues? #?\d+", re.IGNORECASE)


def _files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _renames(tree: ast.AST) -> list[int]:
    """Lines of os.replace / os.rename / Path.replace(target) / Path.rename(target) calls
    (str.replace takes two arguments, dataclasses.replace keywords)."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("replace", "rename"):
            continue
        on_os = isinstance(node.func.value, ast.Name) and node.func.value.id == "os"
        if on_os or (len(node.args) == 1 and not node.keywords):
            found.append(node.lineno)
    return found


def test_files_are_renamed_into_place_only_by_atomic_write() -> None:
    hand_written = {f"{path.relative_to(ROOT)}:{line}" for path in _files(*CODE)
                    if path != ATOMIC_WRITE for line in _renames(ast.parse(path.read_text()))}
    assert hand_written == set()


def _declared_lengths() -> set[int]:
    """The lengths of the String columns long enough to hold text (short ones hold codes)."""
    from db.models import Base

    return {column.type.length for table in Base.metadata.tables.values()
            for column in table.columns
            if isinstance(column.type, String) and (column.type.length or 0) >= 20}


def test_db_cuts_text_to_declared_lengths_not_to_literals() -> None:
    """text[:120] breaks silently when the column changes; read the length from the column."""
    lengths, literal_cuts = _declared_lengths(), []
    for path in _files("db"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Slice) and node.lower is None
                    and isinstance(node.upper, ast.Constant) and node.upper.value in lengths):
                literal_cuts.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert literal_cuts == []


def _comments_and_docstrings(source: str) -> list[tuple[int, str]]:
    found = [(token.start[0], token.string)
             for token in tokenize.generate_tokens(io.StringIO(source).readline)
             if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                found.append((getattr(node, "lineno", 1), docstring))
    return found


def test_comments_carry_no_issue_numbers() -> None:
    """History belongs to git and the issue tracker; a comment says why, briefly."""
    history = [f"{path.relative_to(ROOT)}:{line}" for path in _files(*CODE, "tests")
               for line, text in _comments_and_docstrings(path.read_text())
               if HISTORY.search(text)]
    assert history == []
