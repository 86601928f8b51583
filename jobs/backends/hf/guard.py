"""The idle guard on Hugging Face Jobs: a small wrapper in the job's own command, so it works with no server running.

The job's command becomes `sh -c <boot> <guard> <config> -- <command...>`: the shell runs the guard with the image's
python3 (and, in an image without one, runs the command unguarded after saying so in the log). The guard is
supervisor/sampler.py's text (the same idle rule as the local supervisor) followed by `_MAIN`: it runs the command as its
child, copies its output, samples nvidia-smi (no GPU: the CPU of the container's processes), and once the job has
been silent and idle for `idle_timeout`, writes "[trl-jobs] idle for N minutes ..." with the cost so far, stops the
command (SIGTERM, then SIGKILL) and exits 124, which the Hub records as ERROR.
"""

from __future__ import annotations

import functools
import json
from functools import cache
from pathlib import Path

from huggingface_hub._jobs_api import DEFAULT_UV_IMAGE

from .command_line import DEFAULT_IMAGE
from ...core.flavors import Flavor
from ...core.models import JobSpec

# Read as text, not imported: importing the local backend's package would load the whole executor.
SAMPLER = Path(__file__).resolve().parents[2] / "supervisor" / "sampler.py"
MARK = "# trl-jobs idle guard"
# $0 is the guard's source, $1 its config, $2 "--"; the command follows.
_BOOT = ('command -v python3 >/dev/null 2>&1 && exec python3 -c "$0" "$@"; '
         'echo "[trl-jobs] no python3 in this image: the idle guard is off" >&2; shift 2; exec "$@"')

_MAIN = r'''
# --- the guard's main, after sampler.py's text ---
import signal
import sys
import threading


def _guard():
    args = sys.argv[1:]
    config, command = json.loads(args[0]), args[args.index("--") + 1:]
    clock, started = IdleClock(float(config["idle"])), time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def pump():
        out = sys.stdout.buffer
        for chunk in iter(lambda: child.stdout.read1(65536), b""):
            clock.output()
            out.write(chunk)
            out.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def stop(sig):
        try:
            os.killpg(child.pid, sig)
        except OSError:
            pass

    # A cancel from the Hub signals us (pid 1 of the container): the command goes too.
    signal.signal(signal.SIGTERM, lambda *_: stop(signal.SIGTERM))
    signal.signal(signal.SIGINT, lambda *_: stop(signal.SIGINT))
    meter, every = CpuMeter(), max(0.2, min(float(config.get("sample", 10)), clock.limit / 4))
    while child.poll() is None:
        cpu, _ = meter.sample(descendants(os.getpid()))
        gpus = gpu_sample()
        clock.sample(cpu, gpus)
        if clock.expired():
            idle_s, ran_s = clock.idle_for(), time.monotonic() - started
            stop(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                stop(signal.SIGKILL)
                child.wait()
            reader.join(2)
            price = float(config.get("price", 0))
            cost = price * -(-ran_s // 60) / 60  # billed per started minute
            print(f"[trl-jobs] {idle_note(idle_s, gpus, clock.limit)} after running {round(ran_s)}s; cost so far "
                  f"about ${cost:.2f} ({config.get('flavor', '?')} at ${price:.2f}/h).", flush=True)
            return 124
        try:
            child.wait(every)
        except subprocess.TimeoutExpired:
            pass
    reader.join(5)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


sys.exit(_guard())
'''


@cache
def guard_source() -> str:
    """The guard's Python source: sampler.py, then the main. Blank and comment-only lines are left out (it travels
    in the job's command on every launch)."""
    text = SAMPLER.read_text() + _MAIN
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return f"{MARK}\n" + "\n".join(lines) + "\n"


def guarded(command: list[str], *, idle_timeout: float, flavor: str, price_per_hour: float,
            sample_every: float = 10.0) -> list[str]:
    """`command` run under the idle guard (see the module docstring)."""
    config = json.dumps({"idle": idle_timeout, "flavor": flavor, "price": price_per_hour, "sample": sample_every},
                        separators=(",", ":"))
    return ["sh", "-c", _BOOT, guard_source(), config, "--", *command]


def unguarded(command: list[str]) -> list[str]:
    """The job's own command, without the guard around it (for showing it)."""
    if len(command) > 5 and command[:2] == ["sh", "-c"] and command[3].startswith(MARK) and command[5] == "--":
        return command[6:]
    return command


def guarded_launch(spec: JobSpec, flavor: Flavor) -> tuple[str, list[str]] | None:
    """(image, command) that run `spec` on Hugging Face under the idle guard; None when it has no idle_timeout, or
    when its uv script names files on this machine (run_uv_job uploads those, and only it knows how: such a spec
    runs through it, unguarded)."""
    if spec.idle_timeout is None:
        return None
    guard = functools.partial(guarded, idle_timeout=spec.idle_timeout, flavor=flavor.name,
                              price_per_hour=flavor.price_per_hour)
    if not spec.script:
        return spec.image or DEFAULT_IMAGE, guard(list(spec.command or []))
    if any(Path(word).is_file() for word in [spec.script, *spec.script_args] if len(word) < 1024):
        return None
    # What run_uv_job would run (`uv run [--with dep]... [--python v] script args`), in its image, guarded.
    uv = [*[w for d in spec.dependencies for w in ("--with", d)], *(["--python", spec.python] if spec.python else [])]
    return DEFAULT_UV_IMAGE, guard(["uv", "run", *uv, spec.script, *spec.script_args])
