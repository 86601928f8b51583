"""When the state folder cannot take a write: a full disk, a read-only file system, a permission taken away.

SQLite and the file system each say it their own way (OSError's errno; OperationalError's "database or disk is
full", "attempt to write a readonly database"); a reader needs one message that names the folder and what to do,
rather than "failed inside the server (OSError)".
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...core.models import BackendUnavailable

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EROFS}
_DENIED = {errno.EPERM, errno.EACCES}


class HomeUnusable(BackendUnavailable):
    """The state folder refused a write; the message names it, why, and what to free or change."""


def _kind(exc: BaseException) -> str | None:
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        if "disk is full" in text:
            return "full"
        if "readonly" in text or "read-only" in text:
            return "read-only"
        return None
    if isinstance(exc, OSError):
        if exc.errno in _FULL:
            return "full"
        if exc.errno in _READ_ONLY:
            return "read-only"
        if exc.errno in _DENIED:
            return "denied"
    return None


def home_message(home: Path, kind: str) -> str:
    jobs = home / "jobs"
    if kind == "full":
        return (f"The local state folder {home} (TRL_JOBS_HOME) is on a full disk: nothing more can be written "
                f"there. Free space on it: the largest files are usually the logs and output/ folders of old jobs in "
                f"{jobs} (delete the folders of jobs you no longer need), or point TRL_JOBS_HOME at a disk with room "
                "and restart the server; then try again.")
    if kind == "read-only":
        return (f"The local state folder {home} (TRL_JOBS_HOME) is on a read-only file system: nothing can be "
                "written there. Remount it read-write, or point TRL_JOBS_HOME at a writable folder and restart the "
                "server; then try again.")
    return (f"The local state folder {home} (TRL_JOBS_HOME) refused a write: this user is not allowed to write in "
            f"it or in {jobs}. Give this user back write permission there (it should own the folder), or point "
            "TRL_JOBS_HOME at a folder it owns and restart the server; then try again.")


def home_fault(exc: BaseException, home: Path) -> HomeUnusable | None:
    """The message for `exc` when it is the state folder refusing a write; None for any other error."""
    kind = _kind(exc)
    return HomeUnusable(home_message(home, kind)) if kind else None


@contextmanager
def home_faults(home: Path, *, then: str = "") -> Iterator[None]:
    """Writes under `home`: a full, read-only or forbidden folder raises HomeUnusable (`then` added to it)."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        fault = home_fault(exc, home)
        if fault is None:
            raise
        raise HomeUnusable(f"{then}{fault}") from exc


def disk_full(home: Path) -> bool:
    """Whether the disk holding `home` has (almost) no room left for an ordinary user."""
    try:
        stat = os.statvfs(home)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def cut_note(proc: Path, *, cap_mb: float) -> str | None:
    """While a job runs: whether its supervisor said (in proc.json) that its log passed the cap, as a message."""
    try:
        cut = json.loads(proc.read_text()).get("log_cut")
    except (OSError, ValueError, AttributeError):
        return None
    return (f"its log passed the {cap_mb:g} MB cap (TRL_JOBS_LOG_MB): the middle is cut; the first and the newest "
            "output are kept") if cut else None


def log_note(result: dict[str, Any], *, cap_mb: float) -> str | None:
    """What the supervisor's exit record says about the log itself: a cut middle, output lost to a full disk."""
    notes = []
    cut, lost = result.get("log_cut") or 0, result.get("log_lost") or 0
    if cut:
        notes.append(f"its log passed the {cap_mb:g} MB cap (TRL_JOBS_LOG_MB), so {cut / 1e6:.1f} MB from its "
                     "middle were cut (the first and the newest output are kept)")
    if lost:
        notes.append(f"{lost / 1e6:.1f} MB of its output were lost because the disk was full")
    return "; ".join(notes) or None
