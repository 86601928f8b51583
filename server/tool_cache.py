"""The last tools/list this install built, kept on disk so that the next server answers its first tools/list at once.

Building the list imports every tool module and derives twelve JSON schemas with pydantic (about 120 ms, a fifth of
a bare MCPServer's start-up); a client asks for it right after `initialize`. The file is named after a digest of
everything that shapes the list: our source files (their sizes and times), the versions of mcp and pydantic, and
the read-only setting. Any change makes a new name, so a stale list is never served; a server that cannot read or
write the folder builds the list as before. Tool calls always use the built tools.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_types import Tool

logger = logging.getLogger("trl_jobs_mcp.server")

_PARTS = ("server", "tools", "prompts", "jobs")  # the shipped folders (pyproject's package-dir maps the root)


def _digest(*, read_only: bool) -> str:
    import mcp
    import pydantic

    root = Path(__file__).resolve().parents[1]
    sources = [str(root / "__init__.py")]
    for part in _PARTS:
        for folder, dirs, files in os.walk(root / part):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            sources += [os.path.join(folder, f) for f in sorted(files) if f.endswith((".py", ".json"))]
    h = hashlib.sha256(f"{sys.version}|{pydantic.VERSION}|{mcp.__file__}|{read_only}".encode())
    for source in [*sources, mcp.__file__ or ""]:
        try:
            st = os.stat(source)
        except OSError:
            continue
        h.update(f"{source}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


class ToolListCache:
    """One file under `folder`: `load()` gives the cached list or None, `save(tools)` writes it (best effort)."""

    def __init__(self, *, folder: Path, read_only: bool) -> None:
        self._folder = folder
        self._read_only = read_only
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = self._folder / f"tools-{_digest(read_only=self._read_only)}.json"
        return self._path

    def load(self) -> list[Tool] | None:
        from mcp_types import Tool

        try:
            return [Tool.model_validate(tool) for tool in json.loads(self.path.read_text(encoding="utf-8"))]
        except (OSError, ValueError):  # missing, unreadable or damaged: build the list instead
            return None

    def save(self, tools: list[Tool]) -> None:
        if self.path.exists():
            return
        data = json.dumps([t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools])
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            for old in self._folder.glob("tools-*.json"):
                old.unlink(missing_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(data, encoding="utf-8")
            partial.replace(self.path)  # atomic: a reader sees the whole list or none
        except OSError as exc:
            logger.debug("tools/list not cached in %s: %s", self._folder, exc)
