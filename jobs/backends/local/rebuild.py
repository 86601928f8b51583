"""When the jobs index cannot be used: an unusable state directory, and a damaged jobs database rebuilt from the
jobs' folders.

The database is an index. Each job's folder holds what it was asked to run (spec.json, secrets by name only), what
its supervisor was (proc.json) and how it ended (exit.json), which is enough to write its record again. A rebuild
keeps the damaged file beside the new one (jobs.db.damaged-<time>) for whoever wants to look at it.

Stages after a rebuild: a job with exit.json gets the outcome recorded there; a job whose supervisor still runs is
RUNNING and adopted by the monitor; a supervisor gone without a record is ERROR, as after any crash. A job that never
started is ERROR too: a cancel before the start leaves no trace in its folder, so running it now could run a job its
owner had cancelled.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import (
    JobPaths,
    database_path,
    is_job_id,
    process_alive,
)
from .prepare import read_json
from .store import Store, StoreDamaged
from ...core.models import BackendUnavailable

log = logging.getLogger("trl_jobs_mcp.jobs.backends.local")

HOME_SETTING = "TRL_JOBS_HOME (or --home)"
NOT_STARTED = ("it had not started when the jobs index was rebuilt, and its folder cannot tell whether it was "
               "cancelled meanwhile, so it was not run; submit it again.")
VANISHED = ("its supervisor was gone without recording an exit when the jobs index was rebuilt (killed from outside "
            "or the machine restarted). Its log shows how far it got.")


def prepare_home(home: Path) -> None:
    """Create the state directory (owner only: logs hold what jobs printed) or say precisely why it cannot be used.

    Raises:
        BackendUnavailable: naming the setting, the path and the reason, with what to do.
    """
    fix = (f"Set {HOME_SETTING} to a folder this user can create and write, or leave it unset for the default.")
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (home / "jobs").mkdir(mode=0o700, exist_ok=True)
    except FileExistsError:
        raise BackendUnavailable(f"{HOME_SETTING} is {home}, which is a file, not a folder. {fix}") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(home) else ""
        raise BackendUnavailable(f"{HOME_SETTING} is {home}, which cannot be used: {reason}{where}. {fix}") from None
    if not os.access(home, os.W_OK | os.X_OK) or not os.access(home / "jobs", os.W_OK | os.X_OK):
        raise BackendUnavailable(f"{HOME_SETTING} is {home}, which this user cannot write to. {fix}")


@dataclass
class RebuildReport:
    database: Path
    kept_aside: Path | None
    jobs: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        stages = ", ".join(f"{n} {stage}" for stage, n in sorted(self.by_stage.items())) or "none"
        aside = f"; the previous file is kept as {self.kept_aside}" if self.kept_aside else ""
        skipped = f"; {len(self.skipped)} folders without a readable spec.json skipped" if self.skipped else ""
        return f"rebuilt {self.database} from {self.jobs} job folders ({stages}){aside}{skipped}"


def open_store(home: Path) -> Store:
    """The jobs database of `home`; when it is damaged, kept aside and rebuilt from the jobs' folders first; when
    the jobs' folders hold jobs it lacks (it was deleted, or replaced by an older copy), those are added back.

    One warning line says what happened. Servers sharing the home take a lock, so only one of them rebuilds.
    """
    path = database_path(home)
    try:
        return _with_every_folder(_checked(Store(path)), home)
    except StoreDamaged as exc:
        damage = exc
    with _rebuild_lock(home):
        try:
            return _checked(Store(path))  # another server rebuilt it while we waited for the lock
        except StoreDamaged:
            pass
        report = rebuild_index(home)
    log.warning("local executor: the jobs database could not be read (%s); %s.", damage.__cause__ or damage,
                report.summary())
    return Store(path)


# A folder this young may be a launch by another server between its folder and its record: not ours to add.
_IN_FLIGHT_S = 60.0


def _with_every_folder(store: Store, home: Path) -> Store:
    """`store`, with a record added for each job folder it lacks (in id order, that is submission order)."""
    try:
        names = [e.name for e in os.scandir(home / "jobs") if is_job_id(e.name) and e.is_dir()]
    except OSError:
        return store
    known = {row[0] for row in store.db.execute("SELECT id FROM jobs")}
    missing = sorted(set(names) - known)
    if known:  # an index in use: skip what may be in flight (an empty one was deleted: everything is missing)
        missing = [n for n in missing if int(n[:12], 16) / 1000 < time.time() - _IN_FLIGHT_S]
    if not missing:
        return store
    restored = 0
    with _rebuild_lock(home):
        for name in missing:
            try:
                restored += _restore(store, JobPaths(home, name)) is not None
            except sqlite3.IntegrityError:
                pass  # another server added it meanwhile
    log.warning("local executor: the jobs database %s lacked %d of the jobs in %s (it was deleted or replaced); "
                "their records were written again from their folders.", store.path, restored, home / "jobs")
    return store


def reopen_moved(store: Store, home: Path) -> Store:
    """The store to use once `store`'s file was deleted or replaced under it (Store.moved), `store` closed.

    A deleted file is written again at its path from what `store` still holds open (every record, queued jobs
    included). A replaced one (an older copy put back, another server's rebuild) gets the jobs `store` holds and it
    lacks. Either is then completed from the jobs' folders. No other connection of this process may stay open on
    the old file (its journal would follow it).
    """
    path = database_path(home)
    with _rebuild_lock(home):
        try:
            if not path.exists():
                carried = path.with_name(f"{path.name}.carry-{os.getpid()}")
                target = sqlite3.connect(carried)
                try:
                    store.db.backup(target)
                finally:
                    target.close()
                store.close()
                os.replace(carried, path)
                what = "it was written again from the open copy"
            else:
                held = store.rows()
                store.close()  # first: the last connection's close takes the old file's journal with it
                fresh = Store(path)
                try:
                    what = f"the {fresh.add_missing(held)} jobs it lacked were added to it"
                finally:
                    fresh.close()
        finally:
            store.close()
    log.warning("local executor: the jobs database %s was deleted or replaced while in use; %s.", path, what)
    return open_store(home)


def _checked(store: Store) -> Store:
    """`store`, once SQLite's quick check finds its pages sound: a file whose header is intact can still fail on
    the first page a query reads, and that is better found at start, where it can be rebuilt, than on every call."""
    try:
        row = store.db.execute("PRAGMA quick_check(1)").fetchone()
        if row is None or row[0] != "ok":
            raise StoreDamaged(store.path, RuntimeError(f"quick_check: {row[0] if row else 'no answer'}"))
    except BaseException:
        store.close()
        raise
    return store


def rebuild_index(home: Path) -> RebuildReport:
    """Write a new jobs database for `home` from its jobs' folders, keeping any existing file aside.

    Run it with no server using `home` (the CLI says so): a server holding the old database would keep writing
    to the file that was moved aside.
    """
    path = database_path(home)
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(path, kept)
    for suffix in ("-wal", "-shm"):  # the old file's journal must not be replayed into the new one
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + suffix) if kept else side.with_name(side.name + ".old"))
    report = RebuildReport(database=path, kept_aside=kept)
    store = Store(path)
    try:
        folders = sorted(p for p in (home / "jobs").iterdir() if p.is_dir() and is_job_id(p.name))
        for folder in folders:  # ids sort by creation time: the new sequence keeps the submission order
            stage = _restore(store, JobPaths(home, folder.name))
            if stage is None:
                report.skipped.append(folder.name)
                continue
            report.jobs += 1
            report.by_stage[stage] = report.by_stage.get(stage, 0) + 1
    finally:
        store.close()
    return report


def _restore(store: Store, paths: JobPaths) -> str | None:
    record = read_json(paths.spec) or {}
    try:
        spec = record["spec"]
        created_at = float(record["created_at"])
        store.insert(job_id=paths.job_id, created_at=created_at, flavor=str(spec.get("flavor") or "cpu-basic"),
                     labels={str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
                     command=[str(a) for a in record["argv"]], timeout=float(spec["timeout"]),
                     output_dir=str(record.get("output_dir") or paths.output),
                     secret_names=list(record.get("secret_names") or []), owner=None)
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    result = read_json(paths.exit)
    proc = read_json(paths.proc) or {}
    if result is not None:
        stage, message = _outcome(result)
        finished = result.get("finished_at") or time.time()
        store.update(paths.job_id, stage=stage, message=message, exit_code=result.get("returncode"),
                     started_at=result.get("started_at") or created_at, finished_at=finished)
        return stage
    if proc.get("pid") and process_alive(proc["pid"], proc.get("start")):
        store.update(paths.job_id, stage="RUNNING", live=1, pid=proc["pid"], pid_start=proc.get("start"),
                     started_at=created_at)
        return "RUNNING"
    store.update(paths.job_id, stage="ERROR", message=VANISHED if proc else NOT_STARTED, finished_at=time.time())
    return "ERROR"


def _outcome(result: dict[str, Any]) -> tuple[str, str | None]:
    reason, code = result.get("reason"), result.get("returncode")
    if reason == "cancel":
        return "CANCELED", "stopped by a signal sent to its supervisor process"
    if reason == "timeout":
        return "ERROR", "hit its timeout and was stopped"
    if reason in ("spawn_error", "supervisor_error"):
        return "ERROR", f"could not run: {result.get('error')}"
    if code == 0:
        return "COMPLETED", None
    return "ERROR", f"exited with code {code}"


@contextmanager
def _rebuild_lock(home: Path) -> Iterator[None]:
    fd = os.open(home / "rebuild.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
