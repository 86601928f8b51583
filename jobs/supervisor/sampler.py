"""What a job is doing, sampled: its processes' CPU and memory (/proc), the GPUs (nvidia-smi); and the idle rule.

Standard library only, and self-contained: the local supervisor (runner.py, `python -I -S`) loads it as a sibling,
and the Hugging Face guard ships this file's text inside the job's command (hf/guard.py), so both backends judge
"idle" by the same code.
"""

import json
import os
import shutil
import subprocess
import time

# Under these a job counts as doing nothing: GPU utilization in percent (nvidia-smi's "utilization.gpu"), and CPU
# in percent of one core (a process asleep in a read or a sleep uses ~0%).
IDLE_GPU_PCT = 5.0
IDLE_CPU_PCT = 5.0
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def gpu_sample():
    """[{"index", "util", "mem", "total"}] (percent, bytes) for each GPU nvidia-smi sees; None without one."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=index,utilization.gpu,memory.used,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            gpus.append({"index": int(parts[0]), "util": float(parts[1]), "mem": float(parts[2]) * 2**20,
                         "total": float(parts[3]) * 2**20})
        except (ValueError, IndexError):
            continue  # "[N/A]" on some boards
    return gpus or None


class CpuMeter:
    """CPU (percent of one core) and resident memory (bytes) of a set of processes, between two calls."""

    def __init__(self):
        self.ticks = {}
        self.at = None

    def sample(self, pids):
        now, ticks, rss = time.monotonic(), {}, 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{pid}/statm", "rb") as f:
                    rss += int(f.read().split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                continue
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
        used = sum(max(0, t - self.ticks.get(pid, t if self.at is None else 0)) for pid, t in ticks.items())
        cpu = 0.0 if self.at is None or now <= self.at else 100.0 * used / _TICK / (now - self.at)
        self.ticks, self.at = ticks, now
        return cpu, rss


def descendants(root):
    """The pids below `root` in the process tree, from /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


class IdleClock:
    """How long a job has been idle: no output, and its GPUs (when it has some) or else its CPU under the floor."""

    def __init__(self, limit):
        self.limit = limit
        self.since = time.monotonic()

    def output(self):
        self.since = time.monotonic()

    def sample(self, cpu, gpus):
        busy = max(g["util"] for g in gpus) >= IDLE_GPU_PCT if gpus else cpu >= IDLE_CPU_PCT
        if busy:
            self.since = time.monotonic()

    def idle_for(self):
        return time.monotonic() - self.since

    def expired(self):
        return self.limit is not None and self.idle_for() >= self.limit


def record(path, cpu, rss, gpus):
    """Append one sample to the job's system-metrics file (JSON lines)."""
    line = {"t": round(time.time(), 1), "cpu": round(cpu, 1), "rss": rss}
    if gpus:
        line["gpus"] = gpus
    with open(path, "a") as f:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")


def idle_note(idle_s, gpus, timeout_s):
    what = "GPU use" if gpus else "CPU use"
    floor = IDLE_GPU_PCT if gpus else IDLE_CPU_PCT
    minutes = max(1, round(idle_s / 60))
    return (f"idle for {minutes} minute{'s' if minutes != 1 else ''} (no log output and {what} under {floor:g}%), so the "
            f"idle guard (idle_timeout {timeout_s:g}s) stopped it")
