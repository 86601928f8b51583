"""What the server remembers of the Ray jobs it submitted, in SQLite under the state directory.

Ray keeps its job history in the head's memory (GCS): a head restart forgets every job. This record lets the server
still report a job it submitted (as lost, with what it last saw), and remembers what Ray cannot say: that a job was
canceled while it waited for resources (Ray's stop does nothing to a PENDING job), and the spec a job was launched
from, for a rerun (Ray keeps only the entrypoint built from it). No secret value is stored here: a spec is kept with
its secrets' names only, and scrubbed of their values.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...core.models import REDACTED, InvalidJobSpec, JobSpec, RunRecord

log = logging.getLogger("trl_jobs_mcp.jobs.backends.ray")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT NOT NULL,
    address TEXT NOT NULL,
    created REAL NOT NULL,
    flavor TEXT,
    labels TEXT NOT NULL,
    command TEXT NOT NULL,
    timeout REAL,
    output_dir TEXT,
    canceled REAL,
    last_stage TEXT,
    last_message TEXT,
    PRIMARY KEY (address, id)
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (address, created DESC);
"""


@dataclass
class Record:
    id: str
    created: float
    flavor: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    timeout: float | None = None
    output_dir: str | None = None
    canceled: float | None = None  # when cancel was asked; None if never
    last_stage: str | None = None  # our stage, as last seen on the cluster
    last_message: str | None = None
    spec: dict | None = None  # the JobSpec launched (JSON, secrets left out, scrubbed); None: submitted elsewhere
    secret_names: list[str] = field(default_factory=list)


class Records:
    """The jobs submitted to one cluster address. Calls are short; a lock keeps one connection safe for threads."""

    def __init__(self, path: Path, *, address: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.address = address
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for column in ("spec", "secret_names"):  # a record from before reruns: the columns come empty
                if column not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT")
            # A file whose header is intact can still fail on the first page a query reads: found here, at start.
            row = self._db.execute("PRAGMA quick_check(1)").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, path: Path, *, address: str) -> Records:
        """The record at `path`; when SQLite cannot read it, the file is kept aside (`<name>.damaged-<time>`) and a
        new record begun, with one warning. Only what it alone knew is lost (jobs the cluster has forgotten, and
        cancels of jobs that never started): the cluster still answers for every job it holds."""
        try:
            return cls(path, address=address)
        except sqlite3.DatabaseError as exc:
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                try:
                    Path(f"{path}{suffix}").rename(f"{aside}{suffix}")
                except FileNotFoundError:
                    pass  # no such file, or another server moved it first
            log.warning("ray backend: the record of submitted jobs could not be read (%s); kept it as %s and began "
                        "a new one. Jobs the cluster still holds are unaffected.", exc, aside)
            return cls(path, address=address)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, record: Record) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO jobs ({_COLUMNS}) VALUES ({','.join('?' * 13)})",
                (record.id, self.address, record.created, record.flavor, json.dumps(record.labels),
                 json.dumps(record.command), record.timeout, record.output_dir, record.canceled, record.last_stage,
                 record.last_message, json.dumps(record.spec) if record.spec is not None else None,
                 json.dumps(record.secret_names)))

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE address=? AND id=?", (self.address, job_id))

    def get(self, job_id: str) -> Record | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE address=? AND id=?",
                                   (self.address, job_id)).fetchone()
        return _record(row) if row else None

    def get_many(self, ids: list[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE address=? AND id IN ({','.join('?' * len(chunk))})",
                    (self.address, *chunk)).fetchall()
            found.update((row[0], _record(row)) for row in rows)
        return found

    def all(self) -> list[Record]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE address=? ORDER BY created DESC",
                                    (self.address,)).fetchall()
        return [_record(row) for row in rows]

    def mark_canceled(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET canceled=COALESCE(canceled, ?) WHERE address=? AND id=?",
                             (time.time(), self.address, job_id))

    def seen(self, job_id: str, stage: str, message: str | None) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET last_stage=?, last_message=? WHERE address=? AND id=?",
                             (stage, message, self.address, job_id))


_COLUMNS = ("id, address, created, flavor, labels, command, timeout, output_dir, canceled, last_stage, last_message, "
            "spec, secret_names")


def _record(row: tuple) -> Record:
    (job_id, _address, created, flavor, labels, command, timeout, output_dir, canceled, last_stage,
     last_message, spec, secret_names) = row
    return Record(id=job_id, created=created, flavor=flavor, labels=json.loads(labels), command=json.loads(command),
                  timeout=timeout, output_dir=output_dir, canceled=canceled, last_stage=last_stage,
                  last_message=last_message, spec=json.loads(spec) if spec else None,
                  secret_names=json.loads(secret_names) if secret_names else [])


def rerun_record(job_id: str, record: Record | None) -> RunRecord:
    """What a rerun of `job_id` starts from: its recorded spec, secrets by name only. Refused for a job this server
    did not launch, or whose spec held a secret's value (scrubbed from what was kept)."""
    if record is None or record.spec is None:
        raise InvalidJobSpec(f"job {job_id} was not launched from this server, which keeps the spec of its own "
                             "launches only, so it cannot be rerun; launch it again with launch_training or "
                             "run_job.", field="job_id")
    if REDACTED in json.dumps(record.spec):
        raise InvalidJobSpec(f"job {job_id}'s command or environment held a secret's value, which was scrubbed "
                             "from what was kept; launch it again with the secret in secrets.", field="job_id")
    return RunRecord(spec=JobSpec.model_validate({**record.spec, "secrets": {}}), secret_names=record.secret_names)
