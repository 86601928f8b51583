"""Walking a local dataset or model folder the user named, with bounds, so that one call's work follows what it
needs: `dataset="~"` once walked a whole home folder for 17 seconds, and "/" failed half-way on a permission.

A home folder or the file system's root is refused before any walk (no dataset is either); a folder past MAX_FILES
files or MAX_BYTES bytes is refused naming the field and the way out (push it yourself, pass the Hub id).
"""

from __future__ import annotations

import os
from pathlib import Path

from .credential_files import broad_folder
from .models import InvalidJobSpec

MAX_FILES = 10_000
MAX_BYTES = 50 * 1024**3
# Tool folders that are never data (a clone's history, caches, notebook checkpoints).
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".cache", ".ipynb_checkpoints"})


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def refuse_broad(path: Path, *, field: str) -> None:
    """InvalidJobSpec naming `field` when `path` is the root or a home folder itself."""
    why = broad_folder(path.resolve())
    if why:
        raise InvalidJobSpec(f"{str(path)!r} is {why}. Pass the folder or file that holds the {field} itself.",
                             field=field)


def _too_many(path: Path, what: str, *, field: str) -> InvalidJobSpec:
    return InvalidJobSpec(f"{path} holds more than {what}, past what a call reads on its own. Pass the folder or "
                          f"file that holds just the {field}, or push it yourself (`hf upload`) and pass the Hub id.",
                          field=field)


def walk(path: Path, *, field: str, max_files: int = MAX_FILES, max_bytes: int | None = MAX_BYTES,
         suffixes: frozenset[str] | None = None) -> list[tuple[str, Path]]:
    """(name relative to `path`, file) of every file under the folder `path`, in a stable order, tool folders
    left out; with `suffixes`, only files with one of them (counted against the bounds all the same).

    Raises:
        InvalidJobSpec: (field `field`) `path` is the root or a home folder, or holds more than `max_files` files
            or `max_bytes` bytes.
    """
    refuse_broad(path, field=field)
    found: list[tuple[str, Path]] = []
    seen = total = 0
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            file = Path(root) / name
            try:
                size = file.stat().st_size if file.is_file() else None
            except OSError:
                continue
            if size is None:
                continue
            seen += 1
            total += size
            if seen > max_files:
                raise _too_many(path, f"{max_files} files", field=field)
            if max_bytes is not None and total > max_bytes:
                raise _too_many(path, human_bytes(max_bytes), field=field)
            if suffixes is None or file.suffix.lower() in suffixes:
                found.append((file.relative_to(path).as_posix(), file))
    return found
