"""The supervisor: one small process per local job, between the server and the job's command.

Started by the backend as `python -I -S runner.py` (a file path, not `-m`, so that no package __init__ and no
pydantic is imported: this process's start-up is part of every job's start-up). It reads its orders from the
environment variable named by CONFIG_VAR, which it removes before starting the command, so that secret values
reach it only through its environment, never through argv or a file.

It outlives the server on purpose: it enforces the job's timeout itself, so a timeout fires while the server is
down, and it records how the job ended in `exit.json`, so a restarted server can tell a job that finished while it
was away from one whose process vanished.

What "the job" is, when it is stopped (cancel, timeout) or when its command ends: its process group, plus every
process that left the group (setsid, start_new_session, a daemonising double fork). On Linux the supervisor makes
itself the child subreaper of the command's tree, so an escaped process stays its descendant even after its parent
exits; and at each signal it also sweeps /proc for processes whose environment names the job (TRL_JOBS_JOB_ID), for
one that escaped before the subreaper was set. Not found: a process that both leaves the tree (which the subreaper
prevents while the supervisor lives) and drops TRL_JOBS_JOB_ID from its environment, and work handed to a daemon
(`docker run` starts the container as the Docker daemon's child). Elsewhere (no /proc) only the group is signalled.

Standard library only. Keep it that way.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

if __package__:  # imported: as trl_jobs_mcp.jobs.supervisor.runner, or as trl_jobs_ray.runner on a Ray node
    from .logfile import NOTE, CappedLog, reserve_exit, write_all, write_exit, write_json
    from .procs import (JOB_ID_VAR, become_subreaper, group_alive, job_processes, live, proc_start, reap_orphans,
                        signal_job)
    from .sampler import CpuMeter, IdleClock, gpu_sample, idle_note, record
else:  # run by path as the supervisor (`python -I -S runner.py`), where -I keeps this folder off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from logfile import NOTE, CappedLog, reserve_exit, write_all, write_exit, write_json  # type: ignore
    from procs import (JOB_ID_VAR, become_subreaper, group_alive, job_processes, live, proc_start,  # type: ignore
                       reap_orphans, signal_job)
    from sampler import CpuMeter, IdleClock, gpu_sample, idle_note, record  # type: ignore

CONFIG_VAR = "_TRL_JOBS_SUPERVISOR"
# Must match jobs.redact (a test checks): shorter values are not scrubbed, and this is what replaces them.
MIN_SECRET_LENGTH = 4
REDACTED = b"<redacted>"

_CHUNK = 65536
_COALESCE_BELOW = 4096
_COALESCE_S = 0.002


class _Scrubber:
    """Replaces secret values in a byte stream, including a value split across two reads.

    Holds back only the longest tail that could still grow into a secret, so ordinary output reaches the log
    at once instead of lagging behind by len(secret) - 1 bytes.
    """

    def __init__(self, values: list[bytes]) -> None:
        # jobs.redact.scrubbed_forms' rule: each value, and each of its lines stripped, when long enough.
        forms = {value.strip() for value in values}
        forms |= {line.strip() for value in values for line in value.splitlines()}
        self.values = sorted({v for v in forms if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        data = self._replace(self.pending + data)
        hold = self._held_back(data)
        self.pending = data[len(data) - hold:] if hold else b""
        return data[:len(data) - hold]

    def flush(self) -> bytes:
        data, self.pending = self._replace(self.pending), b""
        return data

    def _replace(self, data: bytes) -> bytes:
        for value in self.values:
            if value in data:
                data = data.replace(value, REDACTED)
        return data

    def _held_back(self, data: bytes) -> int:
        # The earliest position in the last len(value) - 1 bytes where the rest of `data` begins a value. Found with
        # bytes.find on each value's first byte: a Python loop over every tail length cost ~30 us per read, which
        # a job printing line by line pays once per line.
        earliest = len(data)
        for value in self.values:
            first = value[:1]
            i = data.find(first, max(0, len(data) - len(value) + 1))
            while i != -1 and i < earliest:
                if value.startswith(data[i:]):
                    earliest = i
                    break
                i = data.find(first, i + 1)
        return len(data) - earliest


class _Supervisor:
    """One job, in the order it happens: `setup` (session, folder, signals), `spawn` the command, `watch` it until it
    and its stragglers are gone (cancel, timeout, SIGTERM then SIGKILL, copying the log through the scrubber), and
    `record` how it ended in exit.json."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.grace = float(config["grace"])
        self.timeout = float(config["timeout"])
        self.job_id = os.environ.get(JOB_ID_VAR)
        self.cancelled = False  # set by SIGTERM, SIGINT or SIGHUP
        self.orphaned = False  # a SIGCHLD came: an orphan re-parented to us may need reaping
        self.swept: dict[int, str] = {}  # processes outside the tree, found by their environment at a signal
        self.reason: str | None = None
        self.kill_at: float | None = None  # when SIGTERM's grace runs out
        self.give_up_at: float | None = None
        self.drain_until: float | None = None  # after the group is gone, how long to wait for the pipe's end
        self.selector = selectors.DefaultSelector()
        # Sampling (system metrics, and the idle guard, which must work with no server running): how often, and
        # whether the job's flavor has GPUs (then "idle" means its GPUs idle, else its CPU).
        self.idle = IdleClock(config.get("idle"))
        self.sample_every = max(0.2, min(float(config.get("sample", 2.0)), (config.get("idle") or 1e9) / 4))
        self.meter = CpuMeter()
        self.next_sample = 0.0
        self.log_size = -1
        self.samples = 0
        self.last_gpus = None

    def setup(self) -> None:
        try:
            os.setsid()  # the backend asks posix_spawn for a new session where it can; this covers where it cannot
        except OSError:
            pass
        os.chdir(self.config["dir"])
        try:
            os.lseek(1, 0, os.SEEK_END)  # a job started again after a crash adds to its log rather than overwriting it
        except OSError:
            pass
        self.started = time.time()
        self.deadline = time.monotonic() + self.timeout
        secrets = [os.environ[name].encode() for name in self.config["secret_names"] if name in os.environ]
        # Credentials the job can reach without being given them (the user's HF token): scrubbed from the log as well.
        secrets += [value.encode() for value in self.config.get("scrub", ())]
        self.scrubber = _Scrubber(secrets)
        reserve_exit(self.config["exit"])
        self.log = CappedLog(int(self.config.get("log_cap") or 0), os.path.join(self.config["dir"], "log"))
        self.marked_cut = False
        # Signals arrive as bytes on a pipe, so one select() waits for the child, the log pipe, a cancel and the clock.
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # a full pipe already means "wake up"
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda signum, frame: setattr(self, "cancelled", True))
        signal.signal(signal.SIGCHLD, lambda signum, frame: setattr(self, "orphaned", True))
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        write_json(self.config["proc"], {"pid": os.getpid(), "start": proc_start(os.getpid())})

    def spawn(self) -> bool:
        """Start the command in its own session. False, with exit.json written, when it cannot start."""
        pump = bool(self.scrubber.values) or self.log.cap > 0
        try:
            self.child = subprocess.Popen(
                self.config["argv"], cwd=self.config["cwd"], env=os.environ, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if pump else None, stderr=subprocess.STDOUT, start_new_session=True,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte or an unencodable character in argv or env
            # Our stdout is the job's log: the reader of the log learns why nothing ran.
            error = self.scrubber.feed(str(exc).encode()) + self.scrubber.flush()
            self.log.write(f"{NOTE} could not start the command: ".encode() + error + b"\n")
            write_exit(self.config["exit"], {"returncode": None, "reason": "spawn_error",
                                              "error": error.decode(errors="replace"), "started_at": self.started,
                                              "finished_at": time.time()})
            return False
        self.pgid, self.me = self.child.pid, os.getpid()
        self.proc = {"pid": self.me, "start": proc_start(self.me), "child": self.child.pid,
                     "child_start": proc_start(self.child.pid)}
        write_json(self.config["proc"], self.proc)
        self.subreaper = become_subreaper()  # after proc.json, which a server may be waiting for
        self.pipe = self.child.stdout
        if self.pipe is not None:
            os.set_blocking(self.pipe.fileno(), False)
            self.selector.register(self.pipe.fileno(), selectors.EVENT_READ)
        return True

    def stop_job(self, sig: int) -> None:
        found = job_processes(self.pgid, root=self.me, job_id=self.job_id)
        self.swept.update({pid: start for pid, start in (found or {}).items()})
        signal_job(self.pgid, sig, self.swept)

    def job_alive(self) -> bool:
        found = job_processes(self.pgid, root=self.me)
        if found is None:
            return group_alive(self.pgid)
        return bool(found) or any(live(pid, start) for pid, start in self.swept.items())

    def watch(self) -> None:
        while True:
            now = time.monotonic()
            returncode = self.child.poll()
            if self.orphaned and self.subreaper:
                self.orphaned = False
                reap_orphans(self.child.pid)
            if returncode is None and self.reason is None and now >= self.next_sample:
                self.sample(now)
            self._enforce(now, returncode)
            if self.give_up_at is not None and now >= self.give_up_at and returncode is not None:
                return
            group_done = returncode is not None and not self.job_alive()
            if group_done and self.pipe is None:
                return
            if group_done and self.drain_until is None:
                self.drain_until = now + 2.0  # a writer that left the group with setsid may hold the pipe
            if self.drain_until is not None and now >= self.drain_until:
                return
            self._pump(self._next_wait(now, returncode, group_done))

    def _enforce(self, now: float, returncode: int | None) -> None:
        """Cancel and timeout start a SIGTERM; a command that ended leaves no process behind; grace ends in SIGKILL."""
        if self.reason is None and returncode is None:
            if self.cancelled:
                self.reason = "cancel"
            elif now >= self.deadline:
                self.reason = "timeout"
            elif self.idle.expired():
                self.reason = "idle"
                self.idle_s = self.idle.idle_for()
                self.log.write(f"{NOTE} {idle_note(self.idle_s, self.last_gpus, self.idle.limit)}.\n".encode())
            if self.reason is not None:
                self.stop_job(signal.SIGTERM)
                self.kill_at = now + self.grace
        if returncode is not None and self.kill_at is None and self.job_alive():
            # The command ended but left processes behind (in its group, or escaped from it): they go too.
            self.stop_job(signal.SIGTERM)
            self.kill_at = now + self.grace
        if self.kill_at is not None and now >= self.kill_at:
            self.stop_job(signal.SIGKILL)
            self.kill_at = float("inf")
            # Killed processes that nobody reaps (a container whose pid 1 is no init) stay in the group as zombies.
            self.give_up_at = now + 5.0

    def sample(self, now: float) -> None:
        """One system sample into the job's metrics file, and the idle clock: output since the last sample (the log
        grew; the command may write to it directly) or use over the floor is activity."""
        try:
            size = os.fstat(1).st_size
        except OSError:
            size = self.log_size
        if size != self.log_size:
            self.log_size = size
            self.idle.output()
        pids = job_processes(self.pgid, root=self.me) or {}
        cpu, rss = self.meter.sample(pids)
        self.last_gpus = gpu_sample() if self.config.get("gpu") else None
        self.idle.sample(cpu, self.last_gpus)
        if self.config.get("metrics"):
            try:
                record(self.config["metrics"], cpu, rss, self.last_gpus)
            except OSError:
                pass
        self.samples += 1
        # A long run keeps a short file: every 5000 samples the interval doubles (a day at 2 s is ~43000: 9 doublings).
        slow = 2 ** (self.samples // 5000)
        self.next_sample = now + self.sample_every * slow

    def _next_wait(self, now: float, returncode: int | None, group_done: bool) -> float:
        wait = [1.0]
        if self.reason is None:
            wait.append(self.deadline - now)
            wait.append(self.next_sample - now)
        if self.kill_at is not None and self.kill_at != float("inf"):
            wait.append(self.kill_at - now)
        if self.kill_at is not None or (returncode is not None and not group_done):
            wait.append(0.05)  # stragglers exit without a SIGCHLD to us: poll the group
        if self.drain_until is not None:
            wait.append(self.drain_until - now)
        return max(0.0, min(wait))

    def _pump(self, timeout: float) -> None:
        """Wait up to `timeout` for a signal or output; copy output to the log, scrubbed."""
        for key, _ in self.selector.select(timeout):
            if key.fd == self.wake_r:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            try:
                data = os.read(key.fd, _CHUNK)
            except BlockingIOError:
                continue
            if data:
                self.log.write(self.scrubber.feed(data))
                if self.log.tail_at is not None and not self.marked_cut:
                    self._mark_cut()
                if len(data) < _COALESCE_BELOW:
                    # A job printing line by line would wake us once per line; letting a few milliseconds of output
                    # gather first costs a log reader nothing and the job nothing (the pipe holds 64 KiB).
                    time.sleep(_COALESCE_S)
            else:
                self.selector.unregister(key.fd)
                pipe, self.pipe = self.pipe, None
                if pipe is not None:
                    pipe.close()

    def _mark_cut(self) -> None:
        """Say in proc.json that the log was cut, for whoever inspects the job while it runs."""
        self.marked_cut = True
        try:
            write_json(self.config["proc"], {**self.proc, "log_cut": True})
        except OSError:
            pass

    def record(self) -> None:
        if self.pipe is not None:
            self.pipe.close()
        self.log.write(self.scrubber.flush())
        self.log.finish()
        write_exit(self.config["exit"], {"log_cut": self.log.cut, "log_lost": self.log.lost,"returncode": self.child.returncode, "reason": self.reason or "exit",
                                          "grace": self.grace, "timeout": self.timeout, "started_at": self.started,
                                          "finished_at": time.time(), "idle_for": getattr(self, "idle_s", None),
                                          "idle_timeout": self.idle.limit,
                                          "idle_gpu": bool(self.last_gpus)})


def _record_own_failure(config: dict, exc: BaseException) -> None:
    """The supervisor itself failed (not a kill from outside, which leaves no record): say so in exit.json and the
    log, scrubbed of the job's secrets, so the backend reports a supervisor error rather than a vanished process."""
    if not config.get("exit") or os.path.exists(config["exit"]):
        return
    values = [os.environ[n].encode() for n in config.get("secret_names", ()) if n in os.environ]
    scrubber = _Scrubber(values + [v.encode() for v in config.get("scrub", ())])
    error = (scrubber.feed(f"{type(exc).__name__}: {exc}".encode(errors="replace")) + scrubber.flush()).decode(
        errors="replace")
    try:
        write_all(1, f"{NOTE} the job's supervisor failed: {error}\n".encode())
    except OSError:
        pass
    try:
        write_exit(config["exit"], {"returncode": None, "reason": "supervisor_error", "error": error,
                                     "finished_at": time.time()})
    except OSError:
        pass


def main() -> int:
    config = json.loads(os.environ.pop(CONFIG_VAR))
    try:
        return _supervise(config)
    except Exception as exc:
        _record_own_failure(config, exc)
        raise


def _supervise(config: dict) -> int:
    supervisor = _Supervisor(config)
    supervisor.setup()
    if supervisor.spawn():
        supervisor.watch()
        supervisor.record()
    return 0


if __name__ == "__main__":
    sys.exit(main())
