"""The user's own reward functions, looked at without running them (a dry run's check).

A dry run runs no user code: importing the file would execute it on this machine, in a process that inherits the
server's environment (its own token among it), before anyone launched anything. So this reads the source: the file
(or the module a dotted path names, found where the job's Python would find it) exists, parses, and defines the
function with a signature TRL can call. The import itself happens in the job, in the job's own environment, where a
failure is the job's error.

Refusals name the file, the line and what is wrong, never the file's text.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

from ..core.models import InvalidJobSpec

# What GRPOTrainer and RLOOTrainer pass every reward function, by keyword, besides the dataset's other columns.
ALWAYS_PASSED = ("prompts", "completions", "completion_ids", "trainer_state")
_MAX_SOURCE_BYTES = 5_000_000


def _refuse(message: str) -> InvalidJobSpec:
    return InvalidJobSpec(message, field="reward_funcs")


def _bindings(body: list[ast.stmt]) -> list[ast.stmt]:
    """Top-level statements, with those inside a top-level `if` or `try` (a guarded import, a fallback def)."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.If):
            found += _bindings(node.body) + _bindings(node.orelse)
        elif isinstance(node, ast.Try):
            found += _bindings(node.body) + _bindings(node.orelse) + _bindings(node.finalbody)
            for handler in node.handlers:
                found += _bindings(handler.body)
    return found


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.ClassDef):
        return node.name == name
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Name) and t.id == name for t in targets)
    if isinstance(node, ast.Import | ast.ImportFrom):
        return any((alias.asname or alias.name.split(".")[0]) == name or alias.name == "*" for alias in node.names)
    return False


def check_source(path: Path, func: str, *, ref: str) -> None:
    """Refuse `ref` when `path` does not parse, defines no `func`, or defines it so that TRL's call would fail."""
    try:
        if path.stat().st_size > _MAX_SOURCE_BYTES:
            return  # generated code; the job will say
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise _refuse(f"{ref}: {path} is not valid Python (line {exc.lineno}: {exc.msg}); fix it and try again.") \
            from None
    except (OSError, ValueError) as exc:
        raise _refuse(f"{ref}: cannot read {path} ({getattr(exc, 'strerror', None) or 'not Python source'}).") \
            from None
    nodes = _bindings(tree.body)
    if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "__getattr__" for n in nodes):
        return  # a module-level __getattr__ can provide any name
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func:
            args = node.args
            names = {a.arg for a in (*args.args, *args.kwonlyargs)}  # positional-only ones take no keyword
            missing = [n for n in ALWAYS_PASSED if n not in names]
            if args.kwarg is None and missing:
                raise _refuse(f"{ref}: TRL calls a reward function with keyword arguments ({', '.join(ALWAYS_PASSED)}"
                              f" and the dataset's other columns), and {func} (line {node.lineno}) takes no "
                              f"**kwargs. Define it as def {func}(completions, **kwargs).")
            return
        if _binds(node, func):
            return
    raise _refuse(f"{ref}: {path} has no function {func!r} at its top level; name one that it defines.")


@functools.lru_cache(maxsize=1)
def _interpreter_path() -> tuple[str, ...]:
    """This Python's own sys.path as a job's process starts with it: the standard library and site-packages (with
    what their .pth files add), not the folders this server (or a test runner) put in front.

    Asked of a child started isolated (-I: no PYTHONPATH, no user site, no working folder, an empty environment), so
    no user code and none of the server's variables are involved."""
    try:
        done = subprocess.run([sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
                              env={}, capture_output=True, text=True, timeout=30, check=True)
        return tuple(p for p in json.loads(done.stdout) if p)
    except (OSError, subprocess.SubprocessError, ValueError):
        return tuple(p for p in sys.path if p and p != os.getcwd())


def find_module_source(module: str, *, env: dict[str, str]) -> Path | None | bool:
    """Where the job's Python would find `module`'s source, without importing anything: its .py file, True when it
    is found but has no Python source to read (an extension, a namespace package), False when it is not found.

    The job's path is its PYTHONPATH (env's, else this process's), then this Python's own (site-packages); never
    this server's working folder: the job's is its own."""
    pythonpath = env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    paths = [p for p in pythonpath.split(os.pathsep) if p] + list(_interpreter_path())
    parts = module.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0], paths)
    if spec is None:
        # An editable install answers through its own finder on sys.meta_path (installed code, not the user's).
        for finder in sys.meta_path:
            if finder is importlib.machinery.PathFinder or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(parts[0], None)
            except Exception:  # noqa: BLE001 - a finder that cannot answer has not found it
                spec = None
            if spec is not None:
                break
    for depth in range(1, len(parts)):
        if spec is None or not spec.submodule_search_locations:
            return False
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth + 1]),
                                                        list(spec.submodule_search_locations))
    if spec is None:
        return False
    origin = spec.origin
    return Path(origin) if origin and origin.endswith(".py") else True
