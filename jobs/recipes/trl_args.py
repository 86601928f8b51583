"""The arguments TRL's scripts accept, read from TRL's own parsers without importing torch here.

The table for the pinned release (TRL_VERSION) ships in the package as trl_args.json, so the light install (no
torch, no trl) validates `extra_args` as well as a full one, and so does every launch whose job runs the pinned
release (Hugging Face Jobs, Ray). It is generated from TRL's own parsers, never written by hand:

    python -m trl_jobs_mcp.jobs.recipes.trl_args --write     # with trl==TRL_VERSION installed

and a test regenerates it when that TRL is installed and fails on any difference.

Only a local job on a machine whose installed TRL is another release needs that release's own table: building a
script's parser imports trl and transformers (and so torch), about 6 s on two cores, and the server process must
never hold those modules. So a child process builds every parser once and prints each option's name, type and
choices as JSON; the answer is cached on disk, keyed by the versions of Python, trl and transformers (read from
package metadata, which imports nothing), and in memory. Parsing the dataclasses' source with `ast` was the
alternative; it would have to follow TrainingArguments' inheritance across two packages and reimplement
HfArgumentParser's rules (`--no_*` flags, list and choice types), and could silently drift.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict

from ..core.models import JobsError
from .request import TRAINERS, TRL_VERSION

SHIPPED_TABLE = Path(__file__).with_name("trl_args.json")


class ArgInfo(TypedDict):
    kind: str  # "bool", "int", "float", "str", or "other" (parsed by a custom function; passed through)
    nargs: str | None  # "+" for list-valued options
    choices: list[str] | None
    help: str


_lock = threading.Lock()
_memory: dict[str, dict[str, dict[str, ArgInfo]]] = {}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def cache_key() -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"py{py}-trl{_version('trl')}-transformers{_version('transformers')}"


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("trl-jobs-mcp"))


def all_trainer_arguments(*, installed: bool = True, cache_dir: Path | None = None) -> dict[str, dict[str, ArgInfo]]:
    """{trainer: {argument name: ArgInfo}} for every trainer script.

    Args:
        installed: the table for the TRL installed here (a local job runs it); False for the pinned release (a job
            that installs its own TRL). Both are the shipped table unless another TRL release is installed here.
        cache_dir: where an introspected table is cached (default: the user cache dir).

    Raises:
        JobsError: another TRL release is installed here and it cannot be introspected.
    """
    if not installed or _version("trl") in (TRL_VERSION, "absent"):
        return shipped_table()
    key = cache_key()
    if key in _memory:
        return _memory[key]
    with _lock:
        if key in _memory:
            return _memory[key]
        path = (cache_dir or default_cache_dir()) / f"trl-args-{key}.json"
        table = _read(path)
        if table is None:
            table = _introspect()
            _write(path, table)
        _memory[key] = table
        return table


def shipped_table() -> dict[str, dict[str, ArgInfo]]:
    """The table for TRL_VERSION that ships in the package (read once)."""
    key = f"shipped-{TRL_VERSION}"
    if key not in _memory:
        table = _read(SHIPPED_TABLE)
        if table is None:
            raise JobsError(f"the package's TRL argument table {SHIPPED_TABLE} is missing or damaged: reinstall "
                            "trl-jobs-mcp.")
        _memory[key] = table
    return _memory[key]


def _read(path: Path) -> dict[str, dict[str, ArgInfo]] | None:
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict) or set(table) != set(TRAINERS):
        return None
    return table


def _write(path: Path, table: dict[str, dict[str, ArgInfo]]) -> None:
    # Written to a temporary name and renamed, so a concurrent reader sees the old file or the whole new one.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".trl-args-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(table, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs the next process a few seconds


def _introspect() -> dict[str, dict[str, ArgInfo]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-P", "-m", "trl_jobs_mcp.jobs.recipes.trl_args"], capture_output=True,
                          text=True,
                          env=env, timeout=300)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise JobsError(f"could not read the installed TRL's arguments (is trl installed in {sys.executable}?):"
                        f"\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _describe_parser(parser: Any) -> dict[str, ArgInfo]:
    import argparse

    out: dict[str, ArgInfo] = {}
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        # HfArgumentParser adds `--no_<name>` (store_false) for booleans that default to True; record the name.
        for flag in action.option_strings:
            name = flag.lstrip("-").replace("-", "_")
            if name in out:
                continue
            if isinstance(action, argparse._StoreFalseAction | argparse._StoreTrueAction):
                kind = "flag"
            else:
                # TRL wraps `T | None` converters but keeps the inner type's __name__ for its error messages.
                type_name = getattr(action.type, "__name__", "") if action.type else "str"
                kind = {"string_to_bool": "bool", "int": "int", "float": "float", "str": "str"}.get(type_name,
                                                                                                  "other")
            choices = [str(c) for c in action.choices] if action.choices else None
            out[name] = ArgInfo(kind=kind, nargs="+" if action.nargs == "+" else None, choices=choices,
                                help=(action.help or "")[:160])
    return out


def render_table(table: dict[str, dict[str, ArgInfo]]) -> str:
    """The shipped file's text: one trainer a line, keys sorted, so a regenerated table diffs readably."""
    lines = [f"{json.dumps(t)}: {json.dumps(table[t], sort_keys=True)}" for t in sorted(table)]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _main() -> None:
    import argparse
    import importlib

    parser = argparse.ArgumentParser(prog="python -m trl_jobs_mcp.jobs.recipes.trl_args",
                                     description="Read every trainer's arguments from the installed TRL's parsers.")
    parser.add_argument("--write", action="store_true",
                        help=f"write the shipped table ({SHIPPED_TABLE.name}); needs trl=={TRL_VERSION} installed")
    args = parser.parse_args()
    if args.write and _version("trl") != TRL_VERSION:
        sys.exit(f"the shipped table is for trl=={TRL_VERSION}; this interpreter has trl {_version('trl')}")
    table = {}
    for trainer in TRAINERS:
        table[trainer] = _describe_parser(importlib.import_module(f"trl.scripts.{trainer}").make_parser())
    if args.write:
        SHIPPED_TABLE.write_text(render_table(table))
        print(f"wrote {SHIPPED_TABLE}")
    else:
        print(json.dumps(table))


if __name__ == "__main__":
    _main()
