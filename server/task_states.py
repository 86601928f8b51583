"""Terminal task states kept on disk: a task that ended stays as it ended, for every client and after a restart.

A task's live status is read from its job (server/tasks.py), but two endings are not the job's to keep: a cancelled
wait_for_job (the waiting stopped; the job runs on) and the answer a task completed with (a wait that ended on a
flattened loss must not read `working` again when the next log line moves the loss). Each is one small JSON file
under `<home>/tasks/`, named by a hash of the task id (the id is a bearer capability: it is not written in a name),
written to a temporary file and renamed over, so a reader sees the whole state or none, and the first ending wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FOLDER = "tasks"


class TaskStates:
    """The terminal states of tasks issued on `home`: `read` one, `end` one (once)."""

    def __init__(self, home: Path) -> None:
        self._folder = home / FOLDER

    def _path(self, task_id: str) -> Path:
        return self._folder / (hashlib.sha256(task_id.encode()).hexdigest()[:32] + ".json")

    def read(self, task_id: str) -> dict[str, Any] | None:
        """The task's kept terminal state (the wire Task, with `result` when it completed), or None."""
        try:
            return json.loads(self._path(task_id).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def end(self, task_id: str, state: dict[str, Any]) -> dict[str, Any]:
        """Keep `state` as the task's final one unless it already has one; return the one that is kept.

        Terminal states are final: a second ending (a cancel after the completion, a completion after the cancel,
        another server's) leaves the first in place.
        """
        kept = self.read(task_id)
        if kept is not None:
            return kept
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(task_id)
        fd, temporary = tempfile.mkstemp(dir=self._folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            # link() refuses an existing name, so of two servers ending one task at once the first one wins.
            os.link(temporary, path)
        except FileExistsError:
            return self.read(task_id) or state
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return state
