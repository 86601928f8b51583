"""The layers, read from the source (issues 10 and 24):

- tools, prompts and recipes know a backend only through its protocol (jobs.backends.base), never by name;
- no backend imports another, and the shared supervisor belongs to none (jobs/supervisor/);
- jobs/ imports nothing of MCP, server, tools or prompts; imports point down;
- the package imports itself relatively (so pyright, mypy and a reader follow every import from a bare checkout),
  and has no import circle (imports under `if TYPE_CHECKING:` excepted: they never run);
- no module outside tests/ outgrows 400 lines.

A static read (ast), because a forbidden import hidden in a function body never runs in most tests.
"""

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


def _type_checking_only(tree: ast.AST) -> set[ast.AST]:
    """The import statements under `if TYPE_CHECKING:`: they never run, so they make no circle."""
    skipped: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skipped.update(n for n in ast.walk(inner) if isinstance(n, ast.Import | ast.ImportFrom))
    return skipped


def module_of(path: Path) -> str:
    """The dotted name of a file of the package: tools/base.py -> trl_jobs_mcp.tools.base."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _imports(tree: ast.AST, here: str = f"{PACKAGE}.tools.x", *, is_package: bool = False,
             runtime_only: bool = False) -> list[tuple[int, list[str]]]:
    """(line, the absolute modules each import statement names): `from a.b import c` names a.b and a.b.c (c may be a
    module, as in `from ..backends import hf`). Relative imports are resolved against `here`."""
    skipped = _type_checking_only(tree) if runtime_only else set()
    package = here.split(".") if is_package else here.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, [base, *(f"{base}.{alias.name}" for alias in node.names)]))
    return found


def _concrete_backend(module: str) -> bool:
    for prefix in (f"{PACKAGE}.jobs.backends", "jobs.backends"):
        if module.startswith(prefix + ".") and not any(module.startswith(ok) for ok in ALLOWED_BACKEND_MODULES):
            return module.removeprefix(prefix + ".").split(".")[0] in (*BACKENDS, "local", "hf", "ray")
    return False


def backend_imports(source: str, here: str = f"{PACKAGE}.tools.x") -> list[str]:
    """`line: module` for each import statement that names a concrete backend (jobs.backends, but the protocol)."""
    return [f"{line}: {modules[0]}" for line, modules in _imports(ast.parse(source), here)
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
    assert backend_imports(source, module_of(path)) == [], \
        f"{path.name} imports a concrete backend; use ctx.backend / traits"
    assert backend_name_checks(source) == [], f"{path.name} branches on a backend's name; add it to BackendTraits"


@pytest.mark.parametrize(("source", "imports", "checks"), [
    ("from trl_jobs_mcp.jobs.backends.hf import hf_command_line", 1, 0),
    ("def f():\n    from trl_jobs_mcp.jobs.backends.local.paths import JobPaths", 1, 0),
    ("from trl_jobs_mcp.jobs.backends import hf", 1, 0),
    ("import trl_jobs_mcp.jobs.backends.ray.backend", 1, 0),
    ("from trl_jobs_mcp.jobs.backends.base import Backend, BackendTraits", 0, 0),
    ("from ..jobs.backends.local import LocalBackend", 1, 0),
    ("from ..jobs.backends import ray", 1, 0),
    ("from ..jobs.backends.base import Backend", 0, 0),
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


# --- the house (issue 24) ---

PACKAGE_FILES = sorted(p for part in ("server", "tools", "prompts", "jobs") for p in (ROOT / part).rglob("*.py")) \
    + [ROOT / "__init__.py", ROOT / "__main__.py"]
MODULES = {module_of(p): p for p in PACKAGE_FILES}


def _graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports at run time (a lazy import in a function counts: it runs)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges: set[str] = set()
        for _, modules in _imports(ast.parse(path.read_text()), name, is_package=path.name == "__init__.py",
                                   runtime_only=True):
            base, *names = modules
            targets = [m for m in names if m in MODULES] or ([base] if base in MODULES else [])
            edges.update(t for t in targets if t != name)
        graph[name] = edges
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_the_package_has_no_import_circle() -> None:
    assert import_circles(_graph()) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_circles({"a": {"b"}, "b": set()}) == []


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[1:3] == ["jobs", "backends"] and len(parts) > 3:
        return f"backend:{parts[3]}"
    return parts[1] if len(parts) > 1 else ""


def test_no_backend_imports_another_and_jobs_import_no_mcp_layer() -> None:
    bad = []
    for name, edges in _graph().items():
        for target in edges:
            mine, theirs = _layer(name), _layer(target)
            if mine.startswith("backend:") and theirs.startswith("backend:") and mine != theirs \
                    and theirs not in ("backend:base", "backend:__init__"):
                bad.append(f"{name} -> {target}")
            if mine == "jobs" or mine.startswith("backend:"):
                if theirs in ("server", "tools", "prompts"):
                    bad.append(f"{name} -> {target}")
            if mine in ("tools", "prompts") and theirs == "server":
                bad.append(f"{name} -> {target}")
    assert bad == []


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_package_imports_itself_relatively(path: Path) -> None:
    """`from ..core.models import JobSpec`, never `from trl_jobs_mcp.jobs.core.models import ...`: static tools
    cannot see setuptools' editable mapping of the root folder to trl_jobs_mcp, and follow a relative import."""
    absolute = [f"{line}: {modules[0]}" for line, modules in _imports(ast.parse(path.read_text()), module_of(path))
                if modules[0].split(".")[0] == PACKAGE and not _relative_at(path, line)]
    assert absolute == []


def _relative_at(path: Path, line: int) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.level and n.lineno == line for n in ast.walk(ast.parse(path.read_text())))
