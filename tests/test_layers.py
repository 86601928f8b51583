"""The layers, read from the source: tools and recipes know a backend only through its protocol (jobs.backends.base)
and never by name, so that a new backend (Ray) needs no change in them; and no module outside tests/ outgrows 400
lines. A static read (ast), because a forbidden import hidden in a function body never runs in most tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from trl_jobs_mcp.jobs.backends import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "trl_jobs_mcp"
# Where code must not know which backend it runs on.
BACKEND_BLIND = sorted([*(ROOT / "tools").glob("*.py"), *(ROOT / "prompts").glob("*.py"),
                        *(ROOT / "jobs" / "recipes").glob("*.py")])
# What they may import from jobs.backends: the protocol alone.
ALLOWED_BACKEND_MODULES = {f"{PACKAGE}.jobs.backends.base"}
MAX_LINES = 400


def _imports(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """(line, the modules each import statement names): `from a.b import c` names a.b and a.b.c (c may be a
    module, as in `from trl_jobs_mcp.jobs.backends import hf`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]))
    return found


def _concrete_backend(module: str) -> bool:
    for prefix in (f"{PACKAGE}.jobs.backends", "jobs.backends"):
        if module.startswith(prefix + ".") and not any(module.startswith(ok) for ok in ALLOWED_BACKEND_MODULES):
            return module.removeprefix(prefix + ".").split(".")[0] in (*BACKENDS, "local", "hf", "ray")
    return False


def backend_imports(source: str) -> list[str]:
    """`line: module` for each import statement that names a concrete backend (jobs.backends, but the protocol)."""
    return [f"{line}: {modules[0]}" for line, modules in _imports(ast.parse(source))
            if any(_concrete_backend(module) for module in modules)]


def backend_name_checks(source: str) -> list[str]:
    """`line: code` for each comparison with a backend's name: `x == "local"`, `name in ("hf", ...)`, and a dict
    keyed by backend names (a lookup by name in disguise)."""
    names = {*BACKENDS, "local", "hf", "ray"}
    bad = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        constants: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            constants = [node.left, *node.comparators]
            for side in list(constants):
                if isinstance(side, ast.Tuple | ast.List | ast.Set):
                    constants += side.elts
        elif isinstance(node, ast.Dict):
            constants = [key for key in node.keys if key is not None]
        elif isinstance(node, ast.Attribute) and node.attr == "backend_name":
            bad.append(f"{node.lineno}: {ast.unparse(node)}")
        for const in constants:
            if isinstance(const, ast.Constant) and const.value in names:
                bad.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
                break
    return bad


@pytest.mark.parametrize("path", BACKEND_BLIND, ids=lambda p: str(p.relative_to(ROOT)))
def test_tools_and_recipes_never_name_a_backend(path: Path) -> None:
    source = path.read_text()
    assert backend_imports(source) == [], f"{path.name} imports a concrete backend; use ctx.backend / traits"
    assert backend_name_checks(source) == [], f"{path.name} branches on a backend's name; add it to BackendTraits"


@pytest.mark.parametrize(("source", "imports", "checks"), [
    ("from trl_jobs_mcp.jobs.backends.hf import hf_command_line", 1, 0),
    ("def f():\n    from trl_jobs_mcp.jobs.backends.local.paths import JobPaths", 1, 0),
    ("from trl_jobs_mcp.jobs.backends import hf", 1, 0),
    ("import trl_jobs_mcp.jobs.backends.ray.backend", 1, 0),
    ("from trl_jobs_mcp.jobs.backends.base import Backend, BackendTraits", 0, 0),
    ("if ctx.backend.name == 'local':\n    pass", 0, 1),
    ("x = 1 if 'hf' != name else 2", 0, 1),
    ("if name in ('local', 'ray'):\n    pass", 0, 1),
    ("POLL = {'local': 1.0}", 0, 1),
    ("interval = ctx.backend_name", 0, 1),
    ("if ctx.backend.traits.runs_here:\n    note = 'local runs cost nothing'", 0, 0),
])
def test_the_layer_check_catches_what_it_should(source: str, imports: int, checks: int) -> None:
    """The checker itself: it flags each way a tool could name a backend, and passes the protocol's own words."""
    assert len(backend_imports(source)) == imports
    assert len(backend_name_checks(source)) == checks


def test_no_module_outside_tests_is_over_400_lines() -> None:
    long = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in ("tests", ".venv", "build") or any(p.startswith(".") for p in parts):
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert long == [], f"split these along their sections: {long}"
