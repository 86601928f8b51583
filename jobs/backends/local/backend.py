"""The embedded local executor: runs jobs as process groups on this machine, no account needed.

How a job runs: `submit` checks the spec (prepare.py), writes the job's folder and a SCHEDULING record, and wakes
the monitor thread (monitor.py), which starts a supervisor (runner.py) per job while slots are free; the supervisor
starts the command in its own process group, enforces the timeout, and writes exit.json when it ends. The async
methods here only make quick SQLite calls and bounded file reads.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio

from ..base import BackendTraits, NoHubExtras
from .faults import cut_note, home_faults
from .logs import newest_lines, read_log
from .monitor import CANCELED_BY_REQUEST, LIVE_TOKENS, Monitor
from .paths import JOB_ID_SHAPE, JobPaths, database_path, new_job_id, proc_start, signal_process
from .prepare import (Plan, caller_token, command_argv, read_json, refuse_image, run_record,
                                                     working_dir, write_json)
from .rebuild import open_store, prepare_home, reopen_moved
from .store import JobRow, Store
from .machine import hardware_note, runnable_here, shortfall, this_machine
from ...core.flavors import Flavor, all_flavors, get_flavor
from ...analysis.metrics.system import SystemMetrics, from_supervisor
from ...core.models import (TERMINAL_JOB_STAGES, BackendUnavailable, InvalidJobSpec, JobInfo,
                                      JobNotFoundError, JobPage, JobSpec, JobStage, LogChunk, RunRecord)
from ...recipes.build import ENTRY_MODULE
from ...core.redact import Redactor, ambient_secrets, scrub

MAX_LIST_LIMIT = 1000
_MAX_SYSTEM_BYTES = 4 << 20  # the newest samples of a long run: ~40000 lines
_TERMINAL = {stage.value for stage in TERMINAL_JOB_STAGES}


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class LocalBackend(NoHubExtras):
    """Runs jobs on this machine.

    Args:
        home: the state directory; default the platform's user data dir for "trl-jobs-mcp" (the server passes
            TRL_JOBS_HOME from its Settings).
        slots: how many jobs run at once (the server passes TRL_JOBS_LOCAL_SLOTS). Further jobs wait in SCHEDULING.
        grace: seconds between SIGTERM and SIGKILL when a job is cancelled or times out.
        sample_every: seconds between system samples of a running job (CPU, memory, GPUs; the idle guard's eyes).
        log_mb: the cap of each job's log in MB (the server passes TRL_JOBS_LOG_MB); past it the middle is cut.

    Example:
        >>> backend = LocalBackend(home=Path("/tmp/trl-jobs"))
        >>> await backend.start()
        >>> info = await backend.submit(JobSpec(command=["python", "-c", "print('hi')"]))
        >>> (await backend.logs(info.id, tail=10)).lines
    """

    name = "local"
    # Local reads are cheap file reads: poll often. Training runs the entry module with this server's own Python.
    # No Hub extras: its jobs read this machine's files directly (nothing to upload), a rerun is rebuilt from
    # spec.json, and there are no schedules (NoHubExtras).
    traits = BackendTraits(place="this machine", runs_here=True, billed=False, keeps_files=True, poll_seconds=1.0,
                           entry_command=(sys.executable, "-P", "-m", ENTRY_MODULE), local_paths=True,
                           job_id_shape=JOB_ID_SHAPE, job_id_example="0190a1b2c3d4e5f6")

    def __init__(self, home: Path | str | None = None, slots: int = 1, grace: float = 10.0,
                 sample_every: float = 2.0, log_mb: float = 50.0) -> None:
        # The server's Settings read TRL_JOBS_HOME and TRL_JOBS_LOCAL_SLOTS and pass them here: read once, there.
        if home is None:
            import platformdirs

            home = platformdirs.user_data_dir("trl-jobs-mcp")
        self.home = Path(home).expanduser().absolute()
        if slots < 1:
            raise ValueError(f"slots must be 1 or more, got {slots}.")
        if grace < 0:
            raise ValueError(f"grace must be 0 or more seconds, got {grace}.")
        self.slots = slots
        # What a flavor means here, and this machine's size (it does not change while the server runs).
        self.traits = dataclasses.replace(LocalBackend.traits, hardware_note=hardware_note())
        self.grace = float(grace)
        self._token = secrets.token_hex(6)
        self._owner = f"{os.getpid()}:{proc_start(os.getpid()) or ''}:{self._token}"
        self._plans: dict[str, Plan] = {}
        # Secret values of the jobs submitted here (memory only), and the credentials any job can reach (the user's
        # HF token): both are scrubbed from everything returned. Ambient values are re-read at each submit.
        self._job_secrets: dict[str, list[str]] = {}
        self._ambient: set[str] = set(ambient_secrets())
        self._db: Store | None = None
        self._monitor = Monitor(home=self.home, slots=slots, grace=self.grace, plans=self._plans,
                                redactor=self._redactor, ambient=self._ambient, sample_every=sample_every,
                                log_mb=log_mb)
        self._start_lock = threading.Lock()

    # --- lifecycle ---

    async def start(self) -> None:
        """Open the store, reconcile jobs left by an earlier server, and start the monitor. Idempotent."""
        if not self._monitor.running:
            await anyio.to_thread.run_sync(self._start_sync)

    def _start_sync(self) -> None:
        if not hasattr(os, "posix_spawn"):
            raise BackendUnavailable("the local backend runs jobs as POSIX process groups and needs Linux or macOS; "
                                     "on this system use the Hugging Face backend (`--backend hf`).")
        with self._start_lock:
            if self._monitor.running:
                return
            prepare_home(self.home)  # or BackendUnavailable naming TRL_JOBS_HOME, the path and why
            with home_faults(self.home):  # a full disk can refuse the database's journal at the first write
                self._db = open_store(self.home)  # a damaged database is kept aside and rebuilt from the job folders
                monitor_db = Store(database_path(self.home))
            LIVE_TOKENS.add(self._token)
            self._monitor.start(monitor_db)

    async def aclose(self) -> None:
        """Stop the monitor. Running jobs keep running: the next `start()`, here or in a new server, adopts them."""
        if not self._monitor.running:
            return
        if self._db is not None and self._db.moved():
            await anyio.to_thread.run_sync(self._reopen)  # what was written since the move is not lost
        await anyio.to_thread.run_sync(self._monitor.stop)
        LIVE_TOKENS.discard(self._token)
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
        if self._db.moved():  # jobs.db deleted or replaced under us: one stat a call notices it
            await anyio.to_thread.run_sync(self._reopen)
        return self._db

    def _reopen(self) -> None:
        with self._start_lock:
            if self._db is None or not self._db.moved():
                return
            self._monitor.stop()  # its connection closes with it: none may stay on the old file
            self._db = reopen_moved(self._db, self.home)
            self._monitor.start(Store(database_path(self.home)))

    # --- paths ---

    def paths(self, job_id: str) -> JobPaths:
        """The job's files. Raises JobNotFoundError for a string that is not one of our ids (no path is built)."""
        return JobPaths(self.home, job_id)

    # --- flavors ---

    def check_flavor(self, flavor: str) -> Flavor:
        found = get_flavor(flavor)
        here = this_machine()
        lacks = shortfall(found, here)
        if lacks:
            names = [f.name for f in runnable_here(here)]
            elsewhere = (f" To train on {found.name}, use the Hugging Face backend (`--backend hf`, needs an HF "
                         "token).")
            raise InvalidJobSpec(
                f"{found.name!r} needs {lacks} and this machine has {here.describe()}. Flavors that run here: "
                f"{', '.join(names)}.{elsewhere}", field="flavor")
        found.runnable = True
        return found

    async def hardware(self) -> list[Flavor]:
        here = await anyio.to_thread.run_sync(this_machine)
        flavors = all_flavors()
        for flavor in flavors:
            flavor.runnable = shortfall(flavor, here) is None
        return flavors

    # --- what differs from other backends ---

    def command_line(self, spec: JobSpec, *, schedule: str | None = None) -> list[str] | None:
        """None: there is no CLI between the user and this machine; the job's command is what runs."""
        return None

    async def parameter_count(self, model: str) -> float | None:
        """None: the local backend stays offline; callers read the local Hugging Face cache instead."""
        return None

    # --- submit ---

    async def submit(self, spec: JobSpec) -> JobInfo:
        db = await self._store()
        refuse_image(spec)
        flavor = await anyio.to_thread.run_sync(self.check_flavor, spec.flavor)  # may ask nvidia-smi once
        if spec.wants_token:
            spec = spec.with_token(await anyio.to_thread.run_sync(caller_token))
        self._ambient.update(await anyio.to_thread.run_sync(ambient_secrets))
        redactor = Redactor([*spec.secrets.values(), *self._ambient])
        job_id = new_job_id()
        paths = self.paths(job_id)
        cwd = working_dir(spec, paths, redactor)
        argv = command_argv(spec, cwd, redactor)
        output_dir = str((cwd / Path(spec.output_dir).expanduser()).absolute() if spec.output_dir else paths.output)

        # Validated: from here on, write; a state folder that refuses (full disk, read-only) leaves nothing behind.
        try:
            with home_faults(self.home):
                self._write_job(db, spec, job_id, paths, argv, cwd, output_dir, redactor, flavor.name,
                                flavor.gpu_count > 0)
        except BaseException:
            self._plans.pop(job_id, None)
            self._job_secrets.pop(job_id, None)
            shutil.rmtree(paths.root, ignore_errors=True)
            raise
        self._monitor.wake()
        return await self.inspect(job_id)

    def _write_job(self, db: Store, spec: JobSpec, job_id: str, paths: JobPaths, argv: list[str], cwd: Path,
                   output_dir: str, redactor: Redactor, flavor: str, gpu: bool) -> None:
        """The job's folder, spec.json and record; the insert last, so a failure before it leaves no record."""
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
            "spec": scrub(spec.model_dump(mode="json", exclude={"secrets"}), redactor),
            "secret_names": sorted(spec.secrets),
            "argv": public_argv,
            "cwd": redactor.text(str(cwd)),
            "output_dir": redactor.text(output_dir),
        }
        write_json(paths.spec, record)
        if spec.secrets:
            self._job_secrets[job_id] = list(spec.secrets.values())
        self._plans[job_id] = Plan(argv=argv, cwd=str(cwd), output_dir=output_dir, timeout=spec.timeout,
                                    env=dict(spec.env), secrets=dict(spec.secrets), idle_timeout=spec.idle_timeout,
                                    gpu=gpu)
        db.insert(job_id=job_id, created_at=now, flavor=flavor, labels=redactor.mapping(spec.labels),
                  command=public_argv, timeout=spec.timeout, output_dir=redactor.text(output_dir),
                  secret_names=sorted(spec.secrets), owner=self._owner if in_memory_only else None)

    # --- read ---

    async def check(self, spec: JobSpec) -> None:
        """What `submit` refuses before it writes anything (image, flavor, `$HF_TOKEN`, working dir, command), with
        nothing written: a dry run's check."""
        refuse_image(spec)
        await anyio.to_thread.run_sync(self.check_flavor, spec.flavor)
        if spec.wants_token:
            spec = spec.with_token(await anyio.to_thread.run_sync(caller_token))
        redactor = Redactor([*spec.secrets.values(), *self._ambient])
        cwd = working_dir(spec, self.paths(new_job_id()), redactor)  # an id, not a folder: nothing is made
        command_argv(spec, cwd, redactor)

    async def inspect(self, job_id: str) -> JobInfo:
        row = await self._row(job_id)
        info = self._info(row)
        if row.live and not info.message:
            info.message = cut_note(self.paths(job_id).proc, cap_mb=self._monitor.log_mb)
        return info

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
        size = await anyio.to_thread.run_sync(lambda: path.stat().st_size if since and path.exists() else 0)
        if since and since > size and cut_note(self.paths(job_id).proc, cap_mb=0):
            since = size  # its middle was cut after the caller's last read: what was past `since` moved up
        read = await anyio.to_thread.run_sync(lambda: read_log(path, tail=tail, since=since, done=done))
        # Again at read: the supervisor scrubbed the file of the values it knew, but a log written before a token
        # was saved, or a token-shaped value nobody declared, is caught here.
        lines = self._redactor(job_id).argv(read.lines)
        return LogChunk(lines=lines, next_since=read.next_since, finished=done and read.at_end,
                        truncated=read.truncated)

    async def system_metrics(self, job_id: str) -> SystemMetrics:
        """What the job's supervisor sampled (every `sample_every` seconds while it ran), from its folder."""
        await self._row(job_id)
        path = self.paths(job_id).system
        metrics = from_supervisor(await anyio.to_thread.run_sync(lambda: newest_lines(path, _MAX_SYSTEM_BYTES)))
        if not metrics.samples:
            metrics.note = "No system samples yet: the job has not started, or ended before the first one."
        return metrics

    async def _row(self, job_id: str) -> JobRow:
        db = await self._store()
        row = db.get(self.traits.check_job_id(job_id))
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

    # --- rerun ---

    async def run_record(self, job_id: str) -> RunRecord:
        """The spec.json the job was started from (secret values were never written there, only their names)."""
        await self._row(job_id)
        return run_record(job_id, await anyio.to_thread.run_sync(read_json, self.paths(job_id).spec))

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
            with home_faults(self.home, then=f"Job {job_id} is still queued: its cancel could not be recorded. "):
                dropped = db.update(job_id, when_stage=["SCHEDULING"], stage="CANCELED", finished_at=now,
                                    message="canceled before it started")
            if dropped:
                self._plans.pop(job_id, None)
                return await self.inspect(job_id)
            row = await self._row(job_id)  # claimed meanwhile: stop it as a running job
        if row.stage in _TERMINAL and not (row.stage == "CANCELED" and row.live):
            info = self._info(row)
            note = f"Job {job_id} had already finished ({row.stage}) before this cancel; nothing changed."
            info.message = f"{note} Its message: {info.message}" if info.message else note
            return info
        try:
            with home_faults(self.home, then=f"Job {job_id} was sent the stop signal, but the cancel could not be "
                                             "recorded (its stage follows once there is room). "):
                db.update(job_id, when_stage=["RUNNING"], stage="CANCELED", finished_at=now,
                          message=CANCELED_BY_REQUEST)
        except BackendUnavailable:
            signal_process(row.pid, row.pid_start, signal.SIGTERM)
            raise
        row = await self._row(job_id)
        if row.pid:
            signal_process(row.pid, row.pid_start, signal.SIGTERM)
        # else the monitor is starting it right now: it sees CANCELED once the pid is recorded, and signals.
        deadline = time.monotonic() + self.grace + 5.0
        while row.live and time.monotonic() < deadline:
            self._monitor.wake()
            await anyio.sleep(0.05)
            row = await self._row(job_id)
        if row.live:
            # The supervisor did not finish the job off: do it ourselves, group first.
            await anyio.to_thread.run_sync(self._monitor.force_kill, row)
        return self._info(await self._row(job_id))
