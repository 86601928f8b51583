"""The job records of the local executor, in SQLite (WAL).

Listing is newest first by an integer sequence, paged with a cursor (the last sequence seen), never OFFSET, so page
500 of 10,000 jobs costs what page 1 does. Labels live in their own table keyed (key, value, job) so a label filter
is an index lookup. Every value goes through SQL parameters: a label such as "x'; DROP TABLE jobs; --" is data.

One Store per thread: the backend's event loop has one, its monitor thread another.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.models import BackendUnavailable

SCHEMA_VERSION = 1
REBUILD_COMMAND = "trl-jobs-mcp rebuild-index"


class StoreDamaged(BackendUnavailable):
    """The jobs database cannot be read ("file is not a database", "disk image is malformed"). The message names
    the file and the fix; the jobs' folders hold what a rebuild needs."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        self.path = path
        home = path.parent
        super().__init__(
            f"The local jobs database {path} is damaged ({exc}). The jobs' folders in {home / 'jobs'} are intact "
            f"and hold each job's spec and log: run `{REBUILD_COMMAND} --home {home}` to rebuild the index from "
            "them (the damaged file is kept aside), or restart the server, which does that when it cannot open "
            "the database.")


def is_damage(exc: BaseException) -> bool:
    """A DatabaseError proper, not one of its subclasses: OperationalError is "locked" or "busy", which pass,
    and IntegrityError is a constraint we asked for."""
    return type(exc) is sqlite3.DatabaseError


class _Connection(sqlite3.Connection):
    """A connection whose damage errors name the file and the fix (StoreDamaged) rather than reach a caller as a
    bare DatabaseError, which a tool could only answer with a generic failure and a traceback."""

    path: Path

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StoreDamaged(self.path, exc) from None
            raise

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise StoreDamaged(self.path, exc) from None
            raise

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    stage TEXT NOT NULL,
    message TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    flavor TEXT NOT NULL,
    labels TEXT NOT NULL,
    exit_code INTEGER,
    command TEXT NOT NULL,
    timeout REAL NOT NULL,
    output_dir TEXT NOT NULL,
    secret_names TEXT NOT NULL DEFAULT '[]',
    owner TEXT,
    live INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_start TEXT
);
CREATE INDEX IF NOT EXISTS jobs_stage_seq ON jobs (stage, seq);
CREATE INDEX IF NOT EXISTS jobs_live ON jobs (live) WHERE live = 1;
CREATE TABLE IF NOT EXISTS labels (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
    PRIMARY KEY (key, value, job_seq)
) WITHOUT ROWID;
"""


@dataclass
class JobRow:
    seq: int
    id: str
    stage: str
    message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    flavor: str
    labels: dict[str, str]
    exit_code: int | None
    command: list[str]
    timeout: float
    output_dir: str
    secret_names: list[str]
    owner: str | None
    live: bool
    pid: int | None
    pid_start: str | None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> JobRow:
        data = dict(row)
        data["labels"] = json.loads(data["labels"])
        data["command"] = json.loads(data["command"])
        data["secret_names"] = json.loads(data["secret_names"])
        data["live"] = bool(data["live"])
        return cls(**data)


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path` now; None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE where a read decides a write).
        self.db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False,
                                  factory=_Connection)
        self.db.path = path
        self.identity = file_identity(path)  # the file this connection opened, to notice it replaced or unlinked
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{path} was written by a newer trl-jobs-mcp (schema {version}); upgrade it.")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def moved(self) -> bool:
        """Whether the file at our path is no longer the one we write (deleted, or replaced): one stat."""
        return file_identity(self.path) != self.identity

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            try:
                self.db.execute("ROLLBACK")
            except (sqlite3.Error, StoreDamaged):
                pass  # the transaction's own error is the one to report
            raise
        self.db.execute("COMMIT")

    # --- reads ---

    def get(self, job_id: str) -> JobRow | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobRow.from_sql(row) if row else None

    def page(self, *, stages: Iterable[str] | None, labels: dict[str, str] | None, limit: int,
             before: int | None) -> tuple[list[JobRow], int | None]:
        """Up to `limit` rows newest first with seq < `before`, and the cursor for the next page (None at the end)."""
        where: list[str] = []
        params: list[Any] = []
        if stages:
            stages = sorted(stages)
            where.append(f"stage IN ({', '.join('?' * len(stages))})")
            params.extend(stages)
        for key, value in sorted((labels or {}).items()):
            where.append("seq IN (SELECT job_seq FROM labels WHERE key = ? AND value = ?)")
            params.extend((key, value))
        if before is not None:
            where.append("seq < ?")
            params.append(before)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(limit + 1)
        rows = [JobRow.from_sql(r) for r in self.db.execute(sql, params)]
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].seq
        return rows, None

    def live(self) -> list[JobRow]:
        """Jobs whose supervisor was started and has not been seen to end."""
        return [JobRow.from_sql(r) for r in self.db.execute("SELECT * FROM jobs WHERE live = 1 ORDER BY seq")]

    def queued(self, limit: int = 64) -> list[JobRow]:
        rows = self.db.execute("SELECT * FROM jobs WHERE stage = 'SCHEDULING' ORDER BY seq LIMIT ?", (limit,))
        return [JobRow.from_sql(r) for r in rows]

    # --- writes ---

    def insert(self, *, job_id: str, created_at: float, flavor: str, labels: dict[str, str], command: list[str],
               timeout: float, output_dir: str, secret_names: list[str], owner: str | None) -> None:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs (id, stage, created_at, flavor, labels, command, timeout, output_dir, secret_names,"
                " owner) VALUES (?, 'SCHEDULING', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, created_at, flavor, json.dumps(labels), json.dumps(command), timeout, output_dir,
                 json.dumps(secret_names), owner),
            )
            db.executemany("INSERT INTO labels (key, value, job_seq) VALUES (?, ?, ?)",
                           [(k, v, cur.lastrowid) for k, v in labels.items()])

    def claim(self, job_id: str, *, slots: int, now: float) -> bool:
        """Move a queued job to RUNNING if a slot is free. Atomic across every process sharing the database."""
        with self.transaction() as db:
            busy = db.execute("SELECT COUNT(*) FROM jobs WHERE live = 1").fetchone()[0]
            if busy >= slots:
                return False
            cur = db.execute(
                "UPDATE jobs SET stage = 'RUNNING', live = 1, started_at = ? WHERE id = ? AND stage = 'SCHEDULING'",
                (now, job_id))
            return cur.rowcount == 1

    def busy_slots(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM jobs WHERE live = 1").fetchone()[0]

    def set_pid(self, job_id: str, pid: int, pid_start: str | None) -> None:
        self.db.execute("UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?", (pid, pid_start, job_id))

    def update(self, job_id: str, *, when_stage: Iterable[str] | None = None, **values: Any) -> bool:
        """Set columns; with `when_stage`, only if the job is in one of those stages. True when a row changed."""
        sets = ", ".join(f"{column} = ?" for column in values)
        params = list(values.values()) + [job_id]
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        if when_stage is not None:
            when_stage = list(when_stage)
            sql += f" AND stage IN ({', '.join('?' * len(when_stage))})"
            params.extend(when_stage)
        return self.db.execute(sql, params).rowcount == 1

    def rows(self) -> list[JobRow]:
        """Every job, in submission order."""
        return [JobRow.from_sql(row) for row in self.db.execute("SELECT * FROM jobs ORDER BY seq")]

    def add_missing(self, rows: Iterable[JobRow]) -> int:
        """Add those of `rows` (another store's) whose job this store lacks, as they stand there. How many."""
        known = {row[0] for row in self.db.execute("SELECT id FROM jobs")}
        added = 0
        for row in rows:
            if row.id in known:
                continue
            self.insert(job_id=row.id, created_at=row.created_at, flavor=row.flavor, labels=row.labels,
                        command=row.command, timeout=row.timeout, output_dir=row.output_dir,
                        secret_names=row.secret_names, owner=row.owner)
            self.update(row.id, stage=row.stage, message=row.message, started_at=row.started_at,
                        finished_at=row.finished_at, exit_code=row.exit_code, live=int(row.live), pid=row.pid,
                        pid_start=row.pid_start)
            added += 1
        return added

    def overtake_cancel(self, job_id: str, *, stage: str, message: str | None, finished_at: float,
                        cancel_message: str) -> bool:
        """A cancel was recorded (stage CANCELED, `cancel_message`) after the command had already ended on its own:
        the job's own outcome replaces it. True when a row changed."""
        return self.db.execute(
            "UPDATE jobs SET stage = ?, message = ?, finished_at = ? WHERE id = ? AND stage = 'CANCELED'"
            " AND message = ?", (stage, message, finished_at, job_id, cancel_message)).rowcount == 1

    def ended(self, job_id: str, *, stage: str, message: str | None, exit_code: int | None,
              finished_at: float) -> None:
        """Record that the job's supervisor is gone. A stage already terminal (a cancel) keeps its stage and message."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET stage = ?, message = ?, finished_at = ?, exit_code = ?, live = 0"
                " WHERE id = ? AND stage IN ('SCHEDULING', 'RUNNING')",
                (stage, message, finished_at, exit_code, job_id))
            db.execute(
                "UPDATE jobs SET exit_code = COALESCE(exit_code, ?), finished_at = COALESCE(finished_at, ?), live = 0"
                " WHERE id = ?", (exit_code, finished_at, job_id))
