"""Every on-disk name of the local executor, job ids, and what a pid says about a process.

Nothing else builds a path under the state directory: a job's folder is named by an id we made, never by user input.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ...supervisor.procs import proc_stat
from ...core.models import JobNotFoundError

JOB_ID_SHAPE = r"[0-9a-f]{16}"
_ID_RE = re.compile(JOB_ID_SHAPE)
_id_lock = threading.Lock()
_last_id = [0]


def new_job_id() -> str:
    """16 hex digits: milliseconds since the epoch (12), then 16 random bits. Sorts by creation time.

    Within one process ids are strictly increasing even inside one millisecond; across processes the random
    part (and the database's unique constraint) keeps them apart.
    """
    with _id_lock:
        value = (time.time_ns() // 1_000_000) << 16 | secrets.randbits(16)
        value = max(value, _last_id[0] + 1)
        _last_id[0] = value
    return f"{value:016x}"


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def jobs_root(home: Path) -> Path:
    """The folder that holds one folder per job."""
    return home / "jobs"


@dataclass(frozen=True)
class JobPaths:
    """The files of one job: <home>/jobs/<id>/{spec.json, log, output/, exit.json, proc.json, system.jsonl}."""

    home: Path
    job_id: str

    def __post_init__(self) -> None:
        if not is_job_id(self.job_id):
            raise JobNotFoundError(str(self.job_id))

    @property
    def root(self) -> Path:
        return jobs_root(self.home) / self.job_id

    @property
    def spec(self) -> Path:
        """The spec as submitted, with secret values stripped (only their names are kept)."""
        return self.root / "spec.json"

    @property
    def log(self) -> Path:
        """stdout and stderr of the job, interleaved."""
        return self.root / "log"

    @property
    def output(self) -> Path:
        """The default output folder, used when the spec names none."""
        return self.root / "output"

    @property
    def exit(self) -> Path:
        """Written by the supervisor when the job ends: return code and why (exit, timeout, cancel)."""
        return self.root / "exit.json"

    @property
    def proc(self) -> Path:
        """Written by the supervisor as it starts: its pid and the command's pid, with their start times."""
        return self.root / "proc.json"

    @property
    def system(self) -> Path:
        """System samples the supervisor appends while the job runs (CPU, memory, GPUs), one JSON line each."""
        return self.root / "system.jsonl"


def database_path(home: Path) -> Path:
    return home / "jobs.db"


# --- processes ---

RUNNER = str(Path(__file__).resolve().parents[2] / "supervisor" / "runner.py")


def proc_start(pid: int) -> str | None:
    stat = proc_stat(pid)
    return stat[1] if stat else None


_HAVE_PROC = sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")


def process_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process `pid` that started at `start` still runs (a zombie does not; a reused pid is not it).

    Reaps it when it is our own exited child, so that finished supervisors do not pile up as zombies.
    """
    if not pid:
        return False
    if _HAVE_PROC:
        stat = proc_stat(pid)
        if stat is None or (start is not None and stat[1] != start):
            return False
        if stat[0] != "Z":
            return True
        _reap(pid)
        return False
    # Elsewhere there is no start time to compare: trust the pid.
    if _reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> bool:
    """True when `pid` was our child and has exited (now reaped)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def signal_process(pid: int | None, start: str | None, sig: int) -> bool:
    """Send `sig` to the process if it is still the one we started. True when sent."""
    if not process_alive(pid, start):
        return False
    try:
        os.kill(pid, sig)  # type: ignore[arg-type]
    except (ProcessLookupError, PermissionError):
        return False
    return True


def signal_group(pgid: int | None, start: str | None, sig: int) -> bool:
    """Send `sig` to a process group whose leader is `pgid`, when that leader is still the one we started."""
    if not pgid:
        return False
    if _HAVE_PROC and start is not None and proc_start(pgid) not in (None, start):
        return False  # the leader's pid now names another process: not ours to signal
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
