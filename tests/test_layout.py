"""Public signatures stay short: settings that travel together go in a small frozen dataclass (issue 13).

`self`/`cls` are not counted; keyword-only parameters, `*args` and `**kwargs` are. A function is public when
its name has no leading underscore (dunder methods such as `__init__` are public) and no enclosing class
has one. Functions nested inside functions are not part of the API and are skipped.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

MAX_PARAMETERS = 6
PACKAGE = Path(__file__).resolve().parents[1] / "fraudcore"


def _is_public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _is_static(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)


def parameter_count(fn: ast.FunctionDef | ast.AsyncFunctionDef, in_class: bool) -> int:
    a = fn.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    if in_class and not _is_static(fn) and (a.posonlyargs or a.args):
        n -= 1  # self or cls
    return n


def public_functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """(qualified name, node, defined in a class) for every public module-level function and method."""
    def walk(body: list[ast.stmt], prefix: str, in_class: bool) -> Iterator[tuple[str, ast.AST, bool]]:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(node.name):
                yield f"{prefix}{node.name}", node, in_class
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                yield from walk(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.If, ast.Try)):  # e.g. definitions under `if TYPE_CHECKING:` or try/except
                blocks = [node.body, node.orelse, *([h.body for h in node.handlers] if isinstance(node, ast.Try) else []),
                          getattr(node, "finalbody", [])]
                for block in blocks:
                    yield from walk(block, prefix, in_class)
    yield from walk(tree.body, "", False)


def long_signatures(source: str, filename: str = "<source>") -> list[str]:
    found = []
    for name, fn, in_class in public_functions(ast.parse(source, filename)):
        n = parameter_count(fn, in_class)
        if n > MAX_PARAMETERS:
            found.append(f"{filename}:{fn.lineno} {name} takes {n} parameters (at most {MAX_PARAMETERS})")
    return found


def test_no_public_function_in_fraudcore_takes_more_than_six_parameters() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20, f"expected the fraudcore package under {PACKAGE}; found {len(files)} files"
    offenders = [hit for f in files for hit in long_signatures(f.read_text(), str(f.relative_to(PACKAGE.parent)))]
    assert not offenders, "bundle settings that travel together into a frozen dataclass:\n" + "\n".join(offenders)


@pytest.mark.parametrize(("source", "expected"), [
    ("def f(a, b, c, d, e, g, h): pass", ["f takes 7"]),
    ("def f(a, b, c, *, d, e, g, h): pass", ["f takes 7"]),
    ("def f(a, b, c, d, e, *args, **kw): pass", ["f takes 7"]),
    ("async def f(a, b, c, d, e, g, h): pass", ["f takes 7"]),
    ("class C:\n    def __init__(self, a, b, c, d, e, g, h): pass", ["C.__init__ takes 7"]),
    ("class C:\n    @staticmethod\n    def m(a, b, c, d, e, g, h): pass", ["C.m takes 7"]),
    ("class C:\n    class D:\n        def m(self, a, b, c, d, e, g, h): pass", ["C.D.m takes 7"]),
    ("def f(a, b, c, d, e, g): pass", []),
    ("class C:\n    def m(self, a, b, c, d, e, g): pass", []),
    ("class C:\n    @classmethod\n    def m(cls, a, b, c, d, e, g): pass", []),
    ("def _f(a, b, c, d, e, g, h): pass", []),
    ("class _C:\n    def m(self, a, b, c, d, e, g, h): pass", []),
    ("class C:\n    def _m(self, a, b, c, d, e, g, h): pass", []),
    ("def f():\n    def inner(a, b, c, d, e, g, h): pass", []),
])
def test_the_check_counts_parameters_as_the_rule_says(source: str, expected: list[str]) -> None:
    found = long_signatures(source)
    assert len(found) == len(expected), found
    for hit, want in zip(found, expected):
        assert want in hit
