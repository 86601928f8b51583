"""What a local job's processes are: its group, its descendants, and any process whose environment names it.

Standard library only: the supervisor (runner.py, run with `python -I -S`) loads this file as a sibling.
"""

from __future__ import annotations

import os
import sys

JOB_ID_VAR = "TRL_JOBS_JOB_ID"  # set in every job's environment by the backend; found again in /proc/<pid>/environ
_HAVE_PROC = sys.platform.startswith("linux") and os.path.exists("/proc/self/stat")


def proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a pid from a reused one."""
    stat = proc_stat(pid)
    return stat[1] if stat else None


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


def group_alive(pgid: int) -> bool:
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

    Here rather than in paths.py because the supervisor runs with the standard library alone.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields are counted after the last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[0].decode(), fields[19].decode()


def live(pid: int, start: str) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == start


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def become_subreaper() -> bool:
    """Linux: orphans of the command's tree are re-parented to us rather than to init, so that a process which left
    the group and lost its parent is still found among our descendants."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # ~4 ms: imported after the command has started, off its start-up path

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def reap_orphans(child_pid: int) -> None:
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
