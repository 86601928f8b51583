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

CONFIG_VAR = "_TRL_JOBS_SUPERVISOR"
JOB_ID_VAR = "TRL_JOBS_JOB_ID"  # set in every job's environment by the backend; found again in /proc/<pid>/environ
# Must match jobs.redact (a test checks): shorter values are not scrubbed, and this is what replaces them.
MIN_SECRET_LENGTH = 4
REDACTED = b"<redacted>"
NOTE = "[trl-jobs]"

_CHUNK = 65536
_COALESCE_BELOW = 4096
_COALESCE_S = 0.002
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


def _proc_table() -> dict[int, tuple[bytes, int, int, str]] | None:
    """pid -> (state, ppid, process group, start time) for every process, from /proc; None without /proc."""
    if not _HAVE_PROC:
        return None
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    table = {}
    for name in names:
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields are counted after the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 19:
            table[int(name)] = (fields[0], int(fields[1]), int(fields[2]), fields[19].decode())
    return table


def job_processes(pgid: int | None, *, root: int | None = None, job_id: str | None = None) -> dict[int, str] | None:
    """The live processes of a job, pid -> start time: those of its process group, the descendants of `root` (the
    supervisor), and, given `job_id`, any process whose environment names the job. Zombies are left out: where pid 1
    is no init (many containers) a killed grandchild stays a zombie forever, and waiting for it would make every
    cancel last the whole grace. The calling process is never included. None without /proc (only the group can be
    signalled then)."""
    table = _proc_table()
    if table is None:
        return None
    found = {pid for pid, row in table.items() if pgid and row[2] == pgid}
    if root is not None:
        children: dict[int, list[int]] = {}
        for pid, row in table.items():
            children.setdefault(row[1], []).append(pid)
        todo = [root]
        while todo:
            for kid in children.get(todo.pop(), ()):
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    if job_id:
        needle = f"\0{JOB_ID_VAR}={job_id}\0".encode()
        for pid in table:
            if pid in found:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    environ = f.read()
            except OSError:
                continue  # gone, or another user's
            if needle in b"\0" + environ:
                found.add(pid)
    found.discard(os.getpid())
    return {pid: table[pid][3] for pid in found if table[pid][0] not in (b"Z", b"X")}


def signal_job(pgid: int | None, sig: int, processes: dict[int, str] | None) -> None:
    """`sig` to the group, then to each of `processes` outside it that is still the process seen (same start)."""
    if pgid:
        _signal_group(pgid, sig)
    for pid, start in (processes or {}).items():
        if pid == pgid or proc_start(pid) != start:
            continue
        try:
            if os.getpgid(pid) == pgid:
                continue  # the group signal reached it
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (without /proc, where job_processes cannot look)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks) from /proc, or None when no such process. Linux only.

    Here rather than in paths.py because this script runs with the standard library alone; the backend reuses it.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields are counted after the last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[0].decode(), fields[19].decode()


def _live(pid: int, start: str) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == start


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _become_subreaper() -> bool:
    """Linux: orphans of the command's tree are re-parented to us rather than to init, so that a process which left
    the group and lost its parent is still found among our descendants."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # ~4 ms: imported after the command has started, off its start-up path

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_orphans(child_pid: int) -> None:
    """Reap the exited orphans re-parented to us (as subreaper), leaving the command itself to Popen."""
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid == child_pid:
            return
        try:
            os.waitpid(info.si_pid, os.WNOHANG)
        except ChildProcessError:
            return


def main() -> int:
    config = json.loads(os.environ.pop(CONFIG_VAR))
    _STATE["config"] = config
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
    # Credentials the job can reach without being given them (the user's HF token): scrubbed from the log as well.
    secrets += [value.encode() for value in config.get("scrub", ())]
    scrubber = _Scrubber(secrets)
    job_id = os.environ.get(JOB_ID_VAR)

    # Signals arrive as bytes on a pipe, so one select() waits for the child, the log pipe, a cancel and the clock.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # a full pipe already means "wake up"
    stop: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: stop.append("cancel"))
    orphaned = [False]  # a SIGCHLD came: an orphan re-parented to us may need reaping
    signal.signal(signal.SIGCHLD, lambda signum, frame: orphaned.__setitem__(0, True))
    _write_json(proc_path, {"pid": os.getpid(), "start": proc_start(os.getpid())})

    pump = bool(scrubber.values)
    try:
        child = subprocess.Popen(
            config["argv"], cwd=config["cwd"], env=os.environ, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pump else None, stderr=subprocess.STDOUT, start_new_session=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte or an unencodable character in argv or env
        # Our stdout is the job's log: the reader of the log learns why nothing ran.
        error = scrubber.feed(str(exc).encode()) + scrubber.flush()
        _write_all(1, f"{NOTE} could not start the command: ".encode() + error + b"\n")
        _write_json(exit_path, {"returncode": None, "reason": "spawn_error", "error": error.decode(errors="replace"),
                                "started_at": started, "finished_at": time.time()})
        return 0
    pgid = child.pid
    me = os.getpid()
    _write_json(proc_path, {"pid": me, "start": proc_start(me),
                            "child": child.pid, "child_start": proc_start(child.pid)})
    subreaper = _become_subreaper()  # after proc.json, which a server may be waiting for
    swept: dict[int, str] = {}  # processes outside the tree, found by their environment at a signal

    def stop_job(sig: int) -> None:
        found = job_processes(pgid, root=me, job_id=job_id)
        swept.update({pid: start for pid, start in (found or {}).items()})
        signal_job(pgid, sig, swept)

    def job_alive() -> bool:
        found = job_processes(pgid, root=me)
        if found is None:
            return _group_alive(pgid)
        return bool(found) or any(_live(pid, start) for pid, start in swept.items())

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
        if orphaned[0] and subreaper:
            orphaned[0] = False
            _reap_orphans(child.pid)
        if reason is None and returncode is None:
            if stop:
                reason = "cancel"
            elif now >= deadline:
                reason = "timeout"
            if reason is not None:
                stop_job(signal.SIGTERM)
                kill_at = now + grace
        if returncode is not None and kill_at is None and job_alive():
            # The command ended but left processes behind (in its group, or escaped from it): they go too.
            stop_job(signal.SIGTERM)
            kill_at = now + grace
        if kill_at is not None and now >= kill_at:
            stop_job(signal.SIGKILL)
            kill_at = float("inf")
            # Killed processes that nobody reaps (a container whose pid 1 is no init) stay in the group as zombies.
            give_up_at = now + 5.0
        if give_up_at is not None and now >= give_up_at and returncode is not None:
            break
        group_done = returncode is not None and not job_alive()
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
                if len(data) < _COALESCE_BELOW:
                    # A job printing line by line would wake us once per line; letting a few milliseconds of output
                    # gather first costs a log reader nothing and the job nothing (the pipe holds 64 KiB).
                    time.sleep(_COALESCE_S)
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


_STATE: dict = {}


def _record_own_failure(exc: BaseException) -> None:
    """The supervisor itself failed (not a kill from outside, which leaves no record): say so in exit.json and the
    log, scrubbed of the job's secrets, so the backend reports a supervisor error rather than a vanished process."""
    config = _STATE.get("config")
    if not isinstance(config, dict) or not config.get("exit") or os.path.exists(config["exit"]):
        return
    values = [os.environ[n].encode() for n in config.get("secret_names", ()) if n in os.environ]
    scrubber = _Scrubber(values + [v.encode() for v in config.get("scrub", ())])
    error = (scrubber.feed(f"{type(exc).__name__}: {exc}".encode(errors="replace")) + scrubber.flush()).decode(
        errors="replace")
    try:
        _write_all(1, f"{NOTE} the job's supervisor failed: {error}\n".encode())
        _write_json(config["exit"], {"returncode": None, "reason": "supervisor_error", "error": error,
                                     "finished_at": time.time()})
    except OSError:
        pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        _record_own_failure(exc)
        raise
