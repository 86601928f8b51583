"""The local executor's monitor thread: starts queued jobs while slots are free and records how they end.

It claims queued jobs in submission order and starts, for each, a supervisor (runner.py) in its own session;
it notices supervisors that end (ours are reaped; those of an earlier server, adopted at start, are watched by
pid and start time) and records the outcome from exit.json, or from its absence.

The monitor is a thread rather than a task so that it keeps no tie to whichever task called `start()` and never
waits on the event loop.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .faults import disk_full, home_fault, log_note
from .logs import read_log
from .paths import (RUNNER, JobPaths, proc_start, process_alive, signal_group,
                                                   signal_process)
from .prepare import Plan, read_json
from ...supervisor.procs import JOB_ID_VAR, job_processes, signal_job
from ...supervisor.runner import CONFIG_VAR
from .store import JobRow, Store
from ...core.flavors import get_flavor
from ...core.guard import idle_message
from ...core.models import JobsError, format_duration
from ...core.redact import Redactor

log = logging.getLogger(__name__)

# A claimed job whose supervisor pid was never recorded: its server died between the claim and the start.
_LAUNCH_STALE_S = 30.0
VANISHED_WHILE_DOWN = ("the job's process vanished while the server was down (no exit was recorded: it was killed "
                       "from outside or the machine restarted). Its log shows how far it got.")
VANISHED = ("the job's supervisor process died without recording an exit (killed from outside?). Its log shows how "
            "far it got.")
CANCELED_BY_REQUEST = "canceled by request"
ENDED_BEFORE_CANCEL = "it ended on its own before the cancel reached it"
# The server's own credential: a job has no use for it, so it is not passed on (and is scrubbed if it shows up).
_SERVER_ONLY_VARIABLES = ("TRL_JOBS_AUTH_TOKEN",)

# Backends alive in this process, by token: a queued job with secrets can only be started by the backend that holds
# them in memory; when that backend is gone the job cannot run and is failed instead of waiting forever.
LIVE_TOKENS: set[str] = set()

def _owner_alive(owner: str | None) -> bool:
    try:
        pid_text, start, token = (owner or "").split(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return token in LIVE_TOKENS
    return process_alive(pid, start or None)

class Monitor:
    """Starts queued jobs and records how they end, in a thread of its own.

    Args:
        home: the state directory.
        slots: how many jobs run at once.
        grace: seconds between SIGTERM and SIGKILL.
        plans: the plans of jobs submitted here (secrets included), by id; the monitor drops a plan once it
            has started the job.
        redactor: the redactor of a job, by id.
        ambient: the credentials any job can reach, scrubbed from its log by the supervisor.
        sample_every: seconds between the supervisor's system samples (metrics, idle guard).
        log_mb: the cap of each job's log, in MB.
    """

    def __init__(self, *, home: Path, slots: int, grace: float, plans: dict[str, Plan],
                 redactor: Callable[[str], Redactor], ambient: set[str], sample_every: float = 2.0,
                 log_mb: float = 50.0) -> None:
        self.home, self.slots, self.grace = home, slots, grace
        self.sample_every = sample_every
        self.log_mb = log_mb
        self._plans = plans
        self._redactor = redactor
        self._ambient = ambient
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, db: Store) -> None:
        """Reconcile the jobs an earlier server left, then watch in a daemon thread that owns `db`."""
        self._reconcile(db)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(db,), name="trl-jobs-local", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread (blocking)."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join()
        self._thread = None

    def wake(self) -> None:
        """Look now rather than at the next tick: a job was queued or cancelled."""
        self._wake.set()

    def paths(self, job_id: str) -> JobPaths:
        return JobPaths(self.home, job_id)

    def _run(self, db: Store) -> None:
        said = None  # the last failure logged: a failure that repeats every tick is logged once, in one line
        try:
            while not self._stop.is_set():
                self._wake.clear()
                busy = False
                try:
                    busy = self._tick(db)
                    said = None
                except Exception as exc:  # keep watching: one bad record must not stop every job's bookkeeping
                    # A damaged database or a full disk: the message says what to do, no traceback needed.
                    known = exc if isinstance(exc, JobsError) else home_fault(exc, self.home)
                    if known is not None and str(known) != said:
                        log.error("local executor: %s", known)
                    elif known is None and repr(exc) != said:
                        log.exception("local executor: monitor tick failed")
                    said = str(known) if known is not None else repr(exc)
                self._wake.wait(0.1 if busy else 1.0)
        finally:
            db.close()

    def _tick(self, db: Store) -> bool:
        """Notice ended supervisors, then start queued jobs while slots are free. True while anything is in flight."""
        live = db.live()
        for row in live:
            self._check_live(db, row, while_down=False)
        queued = self._schedule(db)
        return queued or db.busy_slots() > 0

    def _reconcile(self, db: Store) -> None:
        for row in db.live():
            self._check_live(db, row, while_down=True)

    def _check_live(self, db: Store, row: JobRow, *, while_down: bool) -> None:
        paths = self.paths(row.id)
        if row.pid is None:
            # Claimed but its pid not recorded: a server (maybe another) is starting it, or died doing so.
            proc = read_json(paths.proc)
            if proc and proc.get("pid"):
                db.set_pid(row.id, proc["pid"], proc.get("start"))
                return
            if paths.exit.exists():
                self._finish(db, row, while_down=while_down)
            elif time.time() - (row.started_at or 0) > _LAUNCH_STALE_S:
                # Never started: queue it again (a cancel that came meanwhile stands).
                if not db.update(row.id, when_stage=["RUNNING"], stage="SCHEDULING", live=0, started_at=None):
                    db.update(row.id, live=0)
            return
        if not process_alive(row.pid, row.pid_start):
            self._finish(db, row, while_down=while_down)

    def _finish(self, db: Store, row: JobRow, *, while_down: bool) -> None:
        """The supervisor is gone: record how the job ended, from exit.json or its absence."""
        paths = self.paths(row.id)
        result = read_json(paths.exit)
        now = time.time()
        if result is None or result.get("reason") == "supervisor_error":
            # The supervisor was killed (nothing recorded) or failed: its command may still run, orphaned: stop it.
            proc = read_json(paths.proc) or {}
            signal_group(proc.get("child"), proc.get("child_start"), signal.SIGKILL)
            _kill_escaped(row.id)
        if result is None:
            message = VANISHED_WHILE_DOWN if while_down else VANISHED
            if disk_full(self.home):
                message = (f"the job's supervisor could not record how it ended: the disk holding {self.home} "
                           "(TRL_JOBS_HOME) is full. Its log shows how far it got; free space there before the next "
                           "launch.")
            db.ended(row.id, stage="ERROR", message=message, exit_code=None, finished_at=now)
        else:
            stage, message = self._outcome(row, result)
            about_log = log_note(result, cap_mb=self.log_mb)
            if about_log:
                message = f"{message}; {about_log}" if message else about_log
            if result.get("reason") != "cancel":
                # A cancel that arrived after the job had ended (on its own, or by its timeout) changed nothing: the
                # supervisor's record says what ended it, and that stands.
                ended_first = f"{message}; {ENDED_BEFORE_CANCEL}" if message else ENDED_BEFORE_CANCEL
                db.overtake_cancel(row.id, stage=stage, message=ended_first,
                                   finished_at=result.get("finished_at") or now, cancel_message=CANCELED_BY_REQUEST)
            db.ended(row.id, stage=stage, message=message, exit_code=result.get("returncode"),
                     finished_at=result.get("finished_at") or now)
        self._plans.pop(row.id, None)
        self._wake.set()

    def _outcome(self, row: JobRow, result: dict[str, Any]) -> tuple[str, str | None]:
        reason, code = result.get("reason"), result.get("returncode")
        if reason == "timeout":
            grace = result.get("grace", self.grace)
            return "ERROR", (f"hit its timeout of {format_duration(row.timeout)} and was stopped (SIGTERM, then "
                             f"SIGKILL after {grace:g}s). Give it a longer timeout if it needs more time.")
        if reason == "cancel":
            return "CANCELED", "stopped by a signal sent to its supervisor process"
        if reason == "idle":
            ran = float(result.get("finished_at") or 0) - float(result.get("started_at") or 0)
            return "ERROR", idle_message(idle_s=float(result.get("idle_for") or 0), gpu=bool(result.get("idle_gpu")),
                                         idle_timeout=float(result.get("idle_timeout") or 0), flavor=row.flavor,
                                         ran_s=max(0.0, ran), billed=False)
        if reason == "spawn_error":
            return "ERROR", self._redactor(row.id).text(f"could not start the command: {result.get('error')}")
        if reason == "supervisor_error":
            return "ERROR", self._redactor(row.id).text(
                f"the job's supervisor process failed on its own (it was not killed): {result.get('error')}")
        if code == 0:
            return "COMPLETED", None
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " (often the out-of-memory killer)" if -code == signal.SIGKILL else ""
            message = f"killed by {name}{hint}"
        else:
            message = f"exited with code {code}"
        last = read_log(self.paths(row.id).log, tail=1, done=True).lines
        if last and last[-1].strip():
            line = last[-1].strip()
            message += f"; last log line: {line[:300]}{'…' if len(line) > 300 else ''}"
        return "ERROR", self._redactor(row.id).text(message)

    def _schedule(self, db: Store) -> bool:
        """Start queued jobs in submission order while slots are free. True when jobs are still waiting."""
        queued = db.queued()
        for row in queued:
            if db.busy_slots() >= self.slots:
                return True
            plan = self._plans.get(row.id)
            if (row.secret_names or row.owner) and plan is None:
                # Its secrets live only in the memory of the server that took it: only that server can start it.
                if not _owner_alive(row.owner):
                    db.update(row.id, when_stage=["SCHEDULING"], stage="ERROR", finished_at=time.time(),
                              message="its secrets were held only in memory by a server that has since stopped, "
                                      "so it cannot start; submit it again.")
                continue
            if plan is None:
                plan = self._load_plan(row)
                if plan is None:
                    db.update(row.id, when_stage=["SCHEDULING"], stage="ERROR", finished_at=time.time(),
                              message=f"its spec file {self.paths(row.id).spec} is missing or unreadable; submit "
                                      "it again.")
                    continue
            if db.claim(row.id, slots=self.slots, now=time.time()):
                try:
                    self._launch(db, row.id, plan)
                except Exception as exc:  # whatever it is, the job ends ERROR and frees its slot
                    self._launch_failed(db, row.id, exc)
        return bool(db.queued(1))

    def _load_plan(self, row: JobRow) -> Plan | None:
        record = read_json(self.paths(row.id).spec) or {}
        try:
            idle = record["spec"].get("idle_timeout")
            return Plan(argv=list(record["argv"]), cwd=record["cwd"], output_dir=record["output_dir"],
                         timeout=float(record["spec"]["timeout"]), env=dict(record["spec"].get("env") or {}),
                         idle_timeout=float(idle) if idle else None, gpu=_has_gpu(row.flavor))
        except (TypeError, KeyError, ValueError):
            return None

    def _launch(self, db: Store, job_id: str, plan: Plan) -> None:
        paths = self.paths(job_id)
        config = {
            "dir": str(paths.root), "proc": str(paths.proc), "exit": str(paths.exit),
            "argv": plan.argv, "cwd": plan.cwd, "timeout": plan.timeout, "grace": self.grace,
            "secret_names": sorted(plan.secrets), "scrub": sorted(self._ambient),
            "idle": plan.idle_timeout, "gpu": plan.gpu, "metrics": str(paths.system), "sample": self.sample_every,
            "log_cap": int(self.log_mb * 1e6),
        }
        inherited = {k: v for k, v in os.environ.items() if k not in _SERVER_ONLY_VARIABLES}
        env = {**inherited, **plan.env, **plan.secrets, "PYTHONUNBUFFERED": "1",
               "TRL_JOBS_OUTPUT_DIR": plan.output_dir, JOB_ID_VAR: job_id, CONFIG_VAR: json.dumps(config)}
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            # Not O_APPEND: every write then takes the inode lock, measurably slower for a chatty job. The command
            # and the supervisor share this one open file (and its offset); the supervisor seeks to the end first.
            (os.POSIX_SPAWN_OPEN, 1, str(paths.log), os.O_WRONLY | os.O_CREAT, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        # -I -S: no site, no user paths, no PYTHON* variables: the supervisor needs only the standard library,
        # and skipping site halves its start-up.
        argv = [sys.executable, "-I", "-S", RUNNER]
        row = db.get(job_id)
        if row is not None and row.stage == "CANCELED":  # cancelled between its claim and now: never start it
            db.ended(job_id, stage="CANCELED", message=None, exit_code=None, finished_at=time.time())
            self._plans.pop(job_id, None)
            return
        try:
            pid = os.posix_spawn(sys.executable, argv, env, file_actions=actions, setsid=True)
        except NotImplementedError:
            pid = os.posix_spawn(sys.executable, argv, env, file_actions=actions)  # runner calls setsid()
        db.set_pid(job_id, pid, proc_start(pid))
        self._plans.pop(job_id, None)
        row = db.get(job_id)
        if row is not None and row.stage == "CANCELED":
            signal_process(pid, row.pid_start, signal.SIGTERM)  # cancelled while we were starting it

    def _launch_failed(self, db: Store, job_id: str, exc: Exception) -> None:
        """Starting the job raised (an OSError from posix_spawn, a ValueError for a character the OS cannot pass,
        or anything else): the job ends ERROR with the reason, its slot is free, and the next job starts."""
        reason = self._redactor(job_id).text(f"{type(exc).__name__}: {exc}")
        log.warning("local executor: job %s could not start: %s", job_id, reason)
        self._plans.pop(job_id, None)
        row = db.get(job_id)
        if row is not None and row.pid:
            return  # its supervisor did start: the monitor watches it like any other
        db.ended(job_id, stage="ERROR", message=f"could not start the job's supervisor: {reason}", exit_code=None,
                 finished_at=time.time())

    def force_kill(self, row: JobRow) -> None:
        proc = read_json(self.paths(row.id).proc) or {}
        signal_group(proc.get("child"), proc.get("child_start"), signal.SIGKILL)
        signal_process(row.pid, row.pid_start, signal.SIGKILL)
        _kill_escaped(row.id)

    # --- the monitor thread ---

def _has_gpu(flavor: str | None) -> bool:
    try:
        return bool(flavor) and get_flavor(flavor).gpu_count > 0
    except JobsError:
        return False


def _kill_escaped(job_id: str) -> None:
    """SIGKILL every process whose environment names the job: what is left of it once its supervisor is gone
    (those that had left its process group included)."""
    found = job_processes(None, job_id=job_id)
    if found:
        signal_job(None, signal.SIGKILL, found)
