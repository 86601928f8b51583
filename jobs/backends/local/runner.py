"""The supervisor: one small process per local job, between the server and the job's command.

Started by the backend as `python -I -S runner.py` (a file path, not `-m`, so that no package __init__ and no
pydantic is imported: this process's start-up is part of every job's start-up). It reads its orders from the
environment variable named by CONFIG_VAR, which it removes before starting the command, so that secret values
reach it only through its environment, never through argv or a file.

It outlives the server on purpose: it enforces the job's timeout itself, so a timeout fires while the server is
down, and it records how the job ended in `exit.json`, so a restarted server can tell a job that finished while it
was away from one whose process vanished.

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

CONFIG_VAR = "_TRL_JOBS_SUPERVISOR"
# Must match jobs.redact (a test checks): shorter values are not scrubbed, and this is what replaces them.
MIN_SECRET_LENGTH = 4
REDACTED = b"<redacted>"
NOTE = "[trl-jobs]"

_CHUNK = 65536
_HAVE_PROC = sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")


def proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields are counted after the last ')'.
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Scrubber:
    """Replaces secret values in a byte stream, including a value split across two reads.

    Holds back only the longest tail that could still grow into a secret, so ordinary output reaches the log
    at once instead of lagging behind by len(secret) - 1 bytes.
    """

    def __init__(self, values: list[bytes]) -> None:
        self.values = sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
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
        for size in range(min(len(data), len(self.values[0]) - 1), 0, -1):
            tail = data[-size:]
            if any(value.startswith(tail) for value in self.values):
                return size
        return 0


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: where pid 1 is no init (many containers)
    a killed grandchild stays a zombie forever, and waiting for it would make every cancel last the whole grace."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _HAVE_PROC:
        return True
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main() -> int:
    config = json.loads(os.environ.pop(CONFIG_VAR))
    try:
        os.setsid()  # the backend asks posix_spawn for a new session where it can; this covers where it cannot
    except OSError:
        pass
    os.chdir(config["dir"])
    try:
        os.lseek(1, 0, os.SEEK_END)  # a job started again after a crash adds to its log rather than overwriting it
    except OSError:
        pass
    started = time.time()
    proc_path, exit_path = config["proc"], config["exit"]
    grace = float(config["grace"])
    deadline = time.monotonic() + float(config["timeout"])
    secrets = [os.environ[name].encode() for name in config["secret_names"] if name in os.environ]
    scrubber = _Scrubber(secrets)

    # Signals arrive as bytes on a pipe, so one select() waits for the child, the log pipe, a cancel and the clock.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # a full pipe already means "wake up"
    stop: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stop.append("cancel"))
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    _write_json(proc_path, {"pid": os.getpid(), "start": proc_start(os.getpid())})

    pump = bool(scrubber.values)
    try:
        child = subprocess.Popen(
            config["argv"], cwd=config["cwd"], env=os.environ, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pump else None, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except OSError as exc:
        # Our stdout is the job's log: the reader of the log learns why nothing ran.
        error = scrubber.feed(str(exc).encode()) + scrubber.flush()
        _write_all(1, f"{NOTE} could not start the command: ".encode() + error + b"\n")
        _write_json(exit_path, {"returncode": None, "reason": "spawn_error", "error": error.decode(errors="replace"),
                                "started_at": started, "finished_at": time.time()})
        return 0
    pgid = child.pid
    _write_json(proc_path, {"pid": os.getpid(), "start": proc_start(os.getpid()),
                            "child": child.pid, "child_start": proc_start(child.pid)})

    selector = selectors.DefaultSelector()
    selector.register(wake_r, selectors.EVENT_READ)
    pipe = child.stdout
    if pipe is not None:
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe.fileno(), selectors.EVENT_READ)

    reason: str | None = None
    kill_at: float | None = None  # when SIGTERM's grace runs out
    give_up_at: float | None = None
    drain_until: float | None = None  # after the group is gone, how long to wait for the pipe's end
    while True:
        now = time.monotonic()
        returncode = child.poll()
        if reason is None and returncode is None:
            if stop:
                reason = "cancel"
            elif now >= deadline:
                reason = "timeout"
            if reason is not None:
                _signal_group(pgid, signal.SIGTERM)
                kill_at = now + grace
        if returncode is not None and kill_at is None and _group_alive(pgid):
            # The command ended but left processes behind in its group: they go too (no orphans).
            _signal_group(pgid, signal.SIGTERM)
            kill_at = now + grace
        if kill_at is not None and now >= kill_at:
            _signal_group(pgid, signal.SIGKILL)
            kill_at = float("inf")
            # Killed processes that nobody reaps (a container whose pid 1 is no init) stay in the group as zombies.
            give_up_at = now + 5.0
        if give_up_at is not None and now >= give_up_at and returncode is not None:
            break
        group_done = returncode is not None and not _group_alive(pgid)
        if group_done and pipe is None:
            break
        if group_done and drain_until is None:
            drain_until = now + 2.0  # a writer that left the group with setsid may hold the pipe; don't wait long
        if drain_until is not None and now >= drain_until:
            break
        wait = [1.0]
        if reason is None:
            wait.append(deadline - now)
        if kill_at is not None and kill_at != float("inf"):
            wait.append(kill_at - now)
        if kill_at is not None or (returncode is not None and not group_done):
            wait.append(0.05)  # stragglers exit without a SIGCHLD to us: poll the group
        if drain_until is not None:
            wait.append(drain_until - now)
        for key, _ in selector.select(max(0.0, min(wait))):
            if key.fd == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            try:
                data = os.read(key.fd, _CHUNK)
            except BlockingIOError:
                continue
            if data:
                _write_all(1, scrubber.feed(data))
            else:
                selector.unregister(key.fd)
                pipe.close()
                pipe = None
    if pipe is not None:
        pipe.close()
    _write_all(1, scrubber.flush())
    _write_json(exit_path, {"returncode": child.returncode, "reason": reason or "exit", "grace": grace,
                            "timeout": float(config["timeout"]), "started_at": started, "finished_at": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
