"""The embedded local executor: runs jobs as process groups on this machine, no account needed.

How a job runs: `submit` validates the spec, writes the job's folder and a SCHEDULING record, and wakes the monitor
thread. The monitor claims queued jobs in submission order while slots are free and starts, for each, a supervisor
(runner.py) in its own session; the supervisor starts the command in its own process group, enforces the timeout,
and writes exit.json when it ends. The monitor notices supervisors that end (ours are reaped; those of an earlier
server, adopted at start, are watched by pid and start time) and records the outcome.

The monitor is a thread rather than a task so that it keeps no tie to whichever task called `start()` and never
waits on the event loop; the async methods only make quick SQLite calls and bounded file reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from trl_jobs_mcp.jobs.backends.local.logs import read_log
from trl_jobs_mcp.jobs.backends.local.paths import (RUNNER, JobPaths, database_path, is_job_id, new_job_id, proc_start,
                                       process_alive, signal_group, signal_process)
from trl_jobs_mcp.jobs.backends.local.runner import CONFIG_VAR, JOB_ID_VAR, job_processes, signal_job
from trl_jobs_mcp.jobs.backends.local.rebuild import open_store, prepare_home
from trl_jobs_mcp.jobs.backends.local.store import JobRow, Store
from trl_jobs_mcp.jobs.flavors import Flavor, all_flavors, get_flavor, local_gpu_count
from trl_jobs_mcp.jobs.models import (TERMINAL_JOB_STAGES, BackendUnavailable, InvalidJobSpec, JobInfo, JobNotFoundError,
                         JobPage, JobsError, JobSpec, JobStage, LogChunk, format_duration)
from trl_jobs_mcp.jobs.redact import Redactor, ambient_secrets

log = logging.getLogger(__name__)

HOME_ENV = "TRL_JOBS_HOME"
SLOTS_ENV = "TRL_JOBS_LOCAL_SLOTS"
MAX_LIST_LIMIT = 1000
# A claimed job whose supervisor pid was never recorded: its server died between the claim and the start.
_LAUNCH_STALE_S = 30.0
_TERMINAL = {stage.value for stage in TERMINAL_JOB_STAGES}
_PEP723 = re.compile(r"(?m)^# /// script$\s(?P<content>(^#(| .*)$\s)+)^# ///$")

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
_LIVE_TOKENS: set[str] = set()


@dataclass
class _Plan:
    """What the supervisor needs to start a job. Held in memory for jobs submitted here (secrets included)."""

    argv: list[str]
    cwd: str
    output_dir: str
    timeout: float
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _owner_alive(owner: str | None) -> bool:
    try:
        pid_text, start, token = (owner or "").split(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return token in _LIVE_TOKENS
    return process_alive(pid, start or None)


class LocalBackend:
    """Runs jobs on this machine.

    Args:
        home: the state directory; default $TRL_JOBS_HOME, else the platform's user data dir for "trl-jobs-mcp".
        slots: how many jobs run at once; default $TRL_JOBS_LOCAL_SLOTS, else 1. Further jobs wait in SCHEDULING.
        grace: seconds between SIGTERM and SIGKILL when a job is cancelled or times out.

    Example:
        >>> backend = LocalBackend(home=Path("/tmp/trl-jobs"))
        >>> await backend.start()
        >>> info = await backend.submit(JobSpec(command=["python", "-c", "print('hi')"]))
        >>> (await backend.logs(info.id, tail=10)).lines
    """

    name = "local"

    def __init__(self, home: Path | str | None = None, slots: int | None = None, grace: float = 10.0) -> None:
        if home is None:
            home = os.environ.get(HOME_ENV) or None
        if home is None:
            import platformdirs

            home = platformdirs.user_data_dir("trl-jobs-mcp")
        self.home = Path(home).expanduser().absolute()
        if slots is None:
            raw = os.environ.get(SLOTS_ENV, "").strip() or "1"
            try:
                slots = int(raw)
            except ValueError:
                raise ValueError(f"{SLOTS_ENV}={raw!r} is not a whole number of job slots; set it to 1 or more.")
        if slots < 1:
            raise ValueError(f"slots must be 1 or more, got {slots}.")
        if grace < 0:
            raise ValueError(f"grace must be 0 or more seconds, got {grace}.")
        self.slots = slots
        self.grace = float(grace)
        self._token = secrets.token_hex(6)
        self._owner = f"{os.getpid()}:{proc_start(os.getpid()) or ''}:{self._token}"
        self._plans: dict[str, _Plan] = {}
        # Secret values of the jobs submitted here (memory only), and the credentials any job can reach (the user's
        # HF token): both are scrubbed from everything returned. Ambient values are re-read at each submit.
        self._job_secrets: dict[str, list[str]] = {}
        self._ambient: set[str] = set(ambient_secrets())
        self._db: Store | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()

    # --- lifecycle ---

    async def start(self) -> None:
        """Open the store, reconcile jobs left by an earlier server, and start the monitor. Idempotent."""
        if self._thread is None:
            await anyio.to_thread.run_sync(self._start_sync)

    def _start_sync(self) -> None:
        if not hasattr(os, "posix_spawn"):
            raise BackendUnavailable("the local backend runs jobs as POSIX process groups and needs Linux or macOS; "
                                     "on this system use the Hugging Face backend (`--backend hf`).")
        with self._start_lock:
            if self._thread is not None:
                return
            prepare_home(self.home)  # or BackendUnavailable naming TRL_JOBS_HOME, the path and why
            self._db = open_store(self.home)  # a damaged database is kept aside and rebuilt from the job folders
            monitor_db = Store(database_path(self.home))
            _LIVE_TOKENS.add(self._token)
            self._reconcile(monitor_db)
            self._stop.clear()
            self._thread = threading.Thread(target=self._monitor, args=(monitor_db,), name="trl-jobs-local",
                                            daemon=True)
            self._thread.start()

    async def aclose(self) -> None:
        """Stop the monitor. Running jobs keep running: the next `start()`, here or in a new server, adopts them."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        await anyio.to_thread.run_sync(thread.join)
        self._thread = None
        _LIVE_TOKENS.discard(self._token)
        if self._db is not None:
            self._db.close()
            self._db = None

    async def __aenter__(self) -> LocalBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _store(self) -> Store:
        if self._db is None:
            await self.start()
        assert self._db is not None
        return self._db

    # --- paths ---

    def paths(self, job_id: str) -> JobPaths:
        """The job's files. Raises JobNotFoundError for a string that is not one of our ids (no path is built)."""
        return JobPaths(self.home, job_id)

    def job_dir(self, job_id: str) -> Path:
        """The job's folder: spec.json, log, output/ (its default output dir)."""
        return self.paths(job_id).root

    # --- flavors ---

    def check_flavor(self, flavor: str) -> Flavor:
        found = get_flavor(flavor)
        gpus = local_gpu_count()
        if found.gpu_count > gpus:
            here = [f.name for f in all_flavors() if f.gpu_count <= gpus]
            has = f"{gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "no GPU"
            raise InvalidJobSpec(
                f"{found.name!r} needs {found.gpu_count} x {found.gpu} GPU and this machine has {has}. Flavors that "
                f"run here: {', '.join(here)}. To train on {found.name}, use the Hugging Face backend "
                f"(`--backend hf`, needs an HF token).", field="flavor")
        found.runnable = True
        return found

    async def hardware(self) -> list[Flavor]:
        gpus = await anyio.to_thread.run_sync(local_gpu_count)
        flavors = all_flavors()
        for flavor in flavors:
            flavor.runnable = flavor.gpu_count <= gpus
        return flavors

    # --- submit ---

    async def submit(self, spec: JobSpec) -> JobInfo:
        db = await self._store()
        _refuse_image(spec)
        flavor = await anyio.to_thread.run_sync(self.check_flavor, spec.flavor)  # may ask nvidia-smi once
        if spec.wants_token:
            spec = spec.with_token(await anyio.to_thread.run_sync(_caller_token))
        self._ambient.update(await anyio.to_thread.run_sync(ambient_secrets))
        redactor = Redactor([*spec.secrets.values(), *self._ambient])
        job_id = new_job_id()
        paths = self.paths(job_id)
        cwd = self._working_dir(spec, paths, redactor)
        argv = self._argv(spec, cwd, redactor)
        if spec.output_dir:
            output_dir = str((cwd / Path(spec.output_dir).expanduser()).absolute())
        else:
            output_dir = str(paths.output)

        # Validated: from here on, write.
        paths.root.mkdir(mode=0o700, parents=True)
        paths.output.mkdir()
        now = time.time()
        public_argv = redactor.argv(argv)
        # A credential written into the command or its folder (not declared a secret) is scrubbed on disk too; the
        # job can then be started only from memory, like a job with secrets.
        in_memory_only = bool(spec.secrets) or public_argv != argv or redactor.text(str(cwd)) != str(cwd)
        record = {
            "id": job_id,
            "created_at": now,
            "spec": _scrub(spec.model_dump(mode="json", exclude={"secrets"}), redactor),
            "secret_names": sorted(spec.secrets),
            "argv": public_argv,
            "cwd": redactor.text(str(cwd)),
            "output_dir": redactor.text(output_dir),
        }
        _write_json(paths.spec, record)
        if spec.secrets:
            self._job_secrets[job_id] = list(spec.secrets.values())
        self._plans[job_id] = _Plan(argv=argv, cwd=str(cwd), output_dir=output_dir, timeout=spec.timeout,
                                    env=dict(spec.env), secrets=dict(spec.secrets))
        db.insert(job_id=job_id, created_at=now, flavor=flavor.name, labels=redactor.mapping(spec.labels),
                  command=public_argv, timeout=spec.timeout, output_dir=redactor.text(output_dir),
                  secret_names=sorted(spec.secrets), owner=self._owner if in_memory_only else None)
        self._wake.set()
        return await self.inspect(job_id)

    async def check(self, spec: JobSpec) -> None:
        """What `submit` refuses before it writes anything (image, flavor, `$HF_TOKEN`, working dir, command), with
        nothing written: a dry run's check."""
        _refuse_image(spec)
        await anyio.to_thread.run_sync(self.check_flavor, spec.flavor)
        if spec.wants_token:
            spec = spec.with_token(await anyio.to_thread.run_sync(_caller_token))
        redactor = Redactor([*spec.secrets.values(), *self._ambient])
        cwd = self._working_dir(spec, self.paths(new_job_id()), redactor)  # an id, not a folder: nothing is made
        self._argv(spec, cwd, redactor)

    def _working_dir(self, spec: JobSpec, paths: JobPaths, redactor: Redactor) -> Path:
        if not spec.working_dir:
            return paths.root
        cwd = Path(spec.working_dir).expanduser().absolute()
        if not cwd.is_dir():
            raise InvalidJobSpec(f"{redactor.text(str(cwd))!r} is not an existing folder. Create it, or leave "
                                 "working_dir out to run in the job's own folder.", field="working_dir")
        return cwd

    def _argv(self, spec: JobSpec, cwd: Path, redactor: Redactor) -> list[str]:
        path_var = spec.env.get("PATH", os.environ.get("PATH", os.defpath))
        if spec.command:
            exe = spec.command[0]
            if os.sep in exe:
                found = (cwd / exe).is_file() and os.access(cwd / exe, os.X_OK)
            else:
                found = shutil.which(exe, path=path_var) is not None
            if not found:
                raise InvalidJobSpec(
                    f"{redactor.text(exe)!r} is not an executable {'file' if os.sep in exe else 'on PATH'} here "
                    f"(working dir {redactor.text(str(cwd))!r}). Give the full path or a program on PATH, e.g. "
                    f"{sys.executable!r}.", field="command")
            return list(spec.command)
        script = str(spec.script)
        is_url = script.startswith(("http://", "https://"))
        uv = shutil.which("uv", path=path_var)
        if not is_url:
            local = cwd / Path(script).expanduser()
            if not local.is_file():
                raise InvalidJobSpec(f"{redactor.text(str(local))!r} is not a file.", field="script")
            script = str(local.absolute())
        if uv:
            extra = ["--python", spec.python] if spec.python else []
            return [uv, "run", *extra, *[f"--with={dep}" for dep in spec.dependencies], script, *spec.script_args]
        needs = []
        if is_url:
            needs.append("the script is a URL")
        if spec.dependencies:
            needs.append("it has dependencies")
        elif not is_url and _inline_dependencies(Path(script)):
            needs.append("its inline metadata (# /// script) lists dependencies")
        if spec.python and not sys.version.startswith(spec.python):
            needs.append(f"it asks for Python {spec.python}")
        if needs:
            raise InvalidJobSpec(
                f"{' and '.join(needs)}, which takes `uv` to run, and uv is not on PATH here. Install uv "
                "(https://docs.astral.sh/uv/), or give a `command` that runs with the Python already installed.",
                field="script")
        return [sys.executable, script, *spec.script_args]

    # --- read ---

    async def inspect(self, job_id: str) -> JobInfo:
        return self._info(await self._row(job_id))

    async def list(self, *, stages: set[JobStage] | None = None, labels: dict[str, str] | None = None,
                   limit: int = 50, cursor: str | None = None) -> JobPage:
        db = await self._store()
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidJobSpec(f"must be between 1 and {MAX_LIST_LIMIT}, got {limit}.", field="limit")
        before = None
        if cursor is not None:
            if not cursor.isdigit():
                raise InvalidJobSpec(f"{cursor!r} is not a cursor from list_jobs; pass the next_cursor of the "
                                     "previous page, or none for the first page.", field="cursor")
            before = int(cursor)
        try:
            stage_names = {JobStage(stage).value for stage in stages} if stages else None
        except ValueError:
            raise InvalidJobSpec(f"stages must be among {', '.join(s.value for s in JobStage)}; got "
                                 f"{sorted(map(str, stages or ()))}.", field="stages") from None
        rows, next_seq = db.page(stages=stage_names, labels=labels, limit=limit, before=before)
        return JobPage(jobs=[self._info(row) for row in rows],
                       next_cursor=str(next_seq) if next_seq is not None else None)

    async def logs(self, job_id: str, *, tail: int | None = None, since: int | None = None) -> LogChunk:
        row = await self._row(job_id)
        # Decided before reading: once the supervisor is gone, nothing more is written.
        done = row.stage in _TERMINAL and not row.live
        path = self.paths(job_id).log
        read = await anyio.to_thread.run_sync(lambda: read_log(path, tail=tail, since=since, done=done))
        # Again at read: the supervisor scrubbed the file of the values it knew, but a log written before a token
        # was saved, or a token-shaped value nobody declared, is caught here.
        lines = self._redactor(job_id).argv(read.lines)
        return LogChunk(lines=lines, next_since=read.next_since, finished=done and read.at_end,
                        truncated=read.truncated)

    async def _row(self, job_id: str) -> JobRow:
        db = await self._store()
        row = db.get(job_id) if is_job_id(job_id) else None
        if row is None:
            raise JobNotFoundError(job_id)
        return row

    def _redactor(self, job_id: str) -> Redactor:
        return Redactor([*self._job_secrets.get(job_id, ()), *self._ambient])

    def _info(self, row: JobRow) -> JobInfo:
        redactor = self._redactor(row.id)
        return JobInfo(
            id=row.id, backend=self.name, stage=JobStage(row.stage),
            message=redactor.text(row.message) if row.message else None,
            created_at=_ts(row.created_at), started_at=_ts(row.started_at), finished_at=_ts(row.finished_at),
            flavor=row.flavor, labels=redactor.mapping(row.labels), exit_code=row.exit_code,
            command=redactor.argv(row.command), timeout=row.timeout,
            output_dir=redactor.text(row.output_dir) if row.output_dir else row.output_dir,
        )

    # --- cancel ---

    async def cancel(self, job_id: str) -> JobInfo:
        """Stop the job: SIGTERM to its process group, then SIGKILL after the grace period.

        Returns once its processes are gone (at most the grace period and a few seconds). A job that had already
        finished is left as it was; the returned copy's message says so (the stored message is untouched).
        """
        db = await self._store()
        row = await self._row(job_id)
        now = time.time()
        if row.stage == JobStage.SCHEDULING.value:
            if db.update(job_id, when_stage=["SCHEDULING"], stage="CANCELED", finished_at=now,
                         message="canceled before it started"):
                self._plans.pop(job_id, None)
                return await self.inspect(job_id)
            row = await self._row(job_id)  # claimed meanwhile: stop it as a running job
        if row.stage in _TERMINAL and not (row.stage == "CANCELED" and row.live):
            info = self._info(row)
            note = f"Job {job_id} had already finished ({row.stage}) before this cancel; nothing changed."
            info.message = f"{note} Its message: {info.message}" if info.message else note
            return info
        db.update(job_id, when_stage=["RUNNING"], stage="CANCELED", finished_at=now, message=CANCELED_BY_REQUEST)
        row = await self._row(job_id)
        if row.pid:
            signal_process(row.pid, row.pid_start, signal.SIGTERM)
        # else the monitor is starting it right now: it sees CANCELED once the pid is recorded, and signals.
        deadline = time.monotonic() + self.grace + 5.0
        while row.live and time.monotonic() < deadline:
            self._wake.set()
            await anyio.sleep(0.05)
            row = await self._row(job_id)
        if row.live:
            # The supervisor did not finish the job off: do it ourselves, group first.
            await anyio.to_thread.run_sync(self._force_kill, row)
        return self._info(await self._row(job_id))

    def _force_kill(self, row: JobRow) -> None:
        proc = _read_json(self.paths(row.id).proc) or {}
        signal_group(proc.get("child"), proc.get("child_start"), signal.SIGKILL)
        signal_process(row.pid, row.pid_start, signal.SIGKILL)
        _kill_escaped(row.id)

    # --- the monitor thread ---

    def _monitor(self, db: Store) -> None:
        said = None  # the last failure logged: a failure that repeats every tick is logged once, in one line
        try:
            while not self._stop.is_set():
                self._wake.clear()
                busy = False
                try:
                    busy = self._tick(db)
                    said = None
                except JobsError as exc:  # a damaged database: the message says what to do
                    if str(exc) != said:
                        log.error("local executor: %s", exc)
                    said = str(exc)
                except Exception as exc:  # keep watching: one bad record must not stop every job's bookkeeping
                    if repr(exc) != said:
                        log.exception("local executor: monitor tick failed")
                    said = repr(exc)
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
            proc = _read_json(paths.proc)
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
        result = _read_json(paths.exit)
        now = time.time()
        if result is None or result.get("reason") == "supervisor_error":
            # The supervisor was killed (nothing recorded) or failed: its command may still run, orphaned: stop it.
            proc = _read_json(paths.proc) or {}
            signal_group(proc.get("child"), proc.get("child_start"), signal.SIGKILL)
            _kill_escaped(row.id)
        if result is None:
            db.ended(row.id, stage="ERROR", message=VANISHED_WHILE_DOWN if while_down else VANISHED,
                     exit_code=None, finished_at=now)
        else:
            stage, message = self._outcome(row, result)
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

    def _load_plan(self, row: JobRow) -> _Plan | None:
        record = _read_json(self.paths(row.id).spec)
        try:
            return _Plan(argv=list(record["argv"]), cwd=record["cwd"], output_dir=record["output_dir"],
                         timeout=float(record["spec"]["timeout"]), env=dict(record["spec"].get("env") or {}))
        except (TypeError, KeyError, ValueError):
            return None

    def _launch(self, db: Store, job_id: str, plan: _Plan) -> None:
        paths = self.paths(job_id)
        config = {
            "dir": str(paths.root), "proc": str(paths.proc), "exit": str(paths.exit),
            "argv": plan.argv, "cwd": plan.cwd, "timeout": plan.timeout, "grace": self.grace,
            "secret_names": sorted(plan.secrets), "scrub": sorted(self._ambient),
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


def _scrub(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {redactor.text(k): _scrub(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, redactor) for v in value]
    return value


def _refuse_image(spec: JobSpec) -> None:
    if spec.image:
        raise InvalidJobSpec(
            "the local backend runs commands directly on this machine and does not run container images. Drop "
            "`image` to run the command here, or use the Hugging Face backend (`--backend hf`).", field="image")


def _kill_escaped(job_id: str) -> None:
    """SIGKILL every process whose environment names the job: what is left of it once its supervisor is gone
    (those that had left its process group included)."""
    found = job_processes(None, job_id=job_id)
    if found:
        signal_job(None, signal.SIGKILL, found)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _inline_dependencies(script: Path) -> bool:
    """Whether a PEP 723 `# /// script` block in the file lists dependencies."""
    import tomllib  # only scripts need it; keep it off the server's start-up

    try:
        with open(script, encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    match = _PEP723.search(head)
    if not match:
        return False
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in match.group("content").splitlines(keepends=True))
    try:
        return bool(tomllib.loads(content).get("dependencies"))
    except tomllib.TOMLDecodeError:
        return True


def _caller_token() -> str:
    """The token `$HF_TOKEN` stands for: HF_TOKEN, else the one `hf auth login` saved (as on Hugging Face Jobs)."""
    from huggingface_hub import get_token  # only for the specs that ask: the server starts without it

    token = get_token()
    if not token:
        raise InvalidJobSpec("`$HF_TOKEN` stands for your Hugging Face token, and none is set here: set HF_TOKEN "
                             "or run `hf auth login`, or pass the value itself as a secret.", field="secrets")
    return token
