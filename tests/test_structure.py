"""Every module of segcompare/ and app.py stays small enough to read (issue #20): at most 400 lines, no
function over 60 lines, and a module docstring that says its one job. benchmarks/ and tests/ are not covered."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
FILES = sorted(ROOT.glob("segcompare/**/*.py")) + [ROOT / "app.py"]


def problems(source: str, name: str = "<source>") -> list[str]:
    """What breaks the limits in one module's source; empty when nothing does."""
    tree = ast.parse(source, name)
    out = []
    lines = len(source.splitlines())
    if lines > MAX_FILE_LINES:
        out.append(f"{lines} lines > {MAX_FILE_LINES}")
    if not (ast.get_docstring(tree) or "").strip():
        out.append("no module docstring")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1  # from `def` (decorators not counted) to its last line
            if length > MAX_FUNCTION_LINES:
                out.append(f"function {node.name} (line {node.lineno}): {length} lines > {MAX_FUNCTION_LINES}")
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_is_small_and_says_its_job(path):
    assert problems(path.read_text(), str(path)) == []


def function_of(lines: int, name: str = "f", indent: str = "") -> str:
    """Source of a function exactly `lines` lines long."""
    return f"{indent}def {name}():\n" + f"{indent}    x = 1\n" * (lines - 1)


DOC = '"""One job."""\n'


@pytest.mark.parametrize("source, expected", [
    (DOC + function_of(MAX_FUNCTION_LINES), []),
    (DOC + function_of(MAX_FUNCTION_LINES + 1, "long"), [f"function long (line 2): {MAX_FUNCTION_LINES + 1} lines"]),
    (DOC + "class C:\n" + function_of(MAX_FUNCTION_LINES + 1, "method", "    "), ["function method (line 3)"]),
    (DOC + "async " + function_of(MAX_FUNCTION_LINES + 1, "task"), ["function task (line 2)"]),
    (DOC + "x = 1\n" * (MAX_FILE_LINES - 1), []),
    (DOC + "x = 1\n" * MAX_FILE_LINES, [f"{MAX_FILE_LINES + 1} lines > {MAX_FILE_LINES}"]),
    (function_of(3), ["no module docstring"]),
    ('""" """\n' + function_of(3), ["no module docstring"]),
    ("x = 1\n" + DOC, ["no module docstring"]),  # a string after code is no docstring
])
def test_the_check_finds_what_breaks_the_limits(source, expected):
    found = problems(source)
    assert len(found) == len(expected), found
    for got, want in zip(found, expected):
        assert got.startswith(want), found
