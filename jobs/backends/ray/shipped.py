"""The small package every Ray job runs from, `trl_jobs_ray`: the entrypoint wrapper, the shared supervisor (jobs/supervisor/)
and the training entry module, with the modules they import, zipped and named by their content.

It reaches the cluster as a GCS package (uploaded through the dashboard's REST API once per content) listed in the
job's runtime_env `py_modules`, so a cluster needs nothing of ours installed and a server upgrade ships a new name.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path

from ...core.flavors import Flavor
from ...core.models import JobSpec

PACKAGE = "trl_jobs_ray"
ENTRY_MODULE = f"{PACKAGE}.entry"  # `python -m trl_jobs_ray.entry <trainer> ...`: recipes/entry.py on the cluster
TRAIN_MODULE = f"{PACKAGE}.train"  # `python -m trl_jobs_ray.train [placement] -- <trainer> ...`: across nodes

# The entrypoint's Python: the one the node's Ray runs its workers with, whatever the PATH it was started with (a
# head started as venv/bin/ray, the venv not activated). Ray runs the entrypoint through /bin/sh under the job's
# supervisor, a worker that the raylet started; the raylet's command line names that Python
# (--python_worker_command=<python> ...). Read from /proc, else `python` on PATH. Its own path is not the answer:
# /proc/<pid>/exe resolves a venv's link to the base Python, which lacks the venv's packages.
NODE_PYTHON = ("\"$(r=$(sed 's/.*) //' /proc/$PPID/stat 2>/dev/null | cut -d' ' -f2); tr '\\0' '\\n' "
               "</proc/$r/cmdline 2>/dev/null | sed -n 's/^--python_worker_command=\\([^ ]*\\).*/\\1/p' | grep . "
               "|| echo python)\"")

_JOBS = Path(__file__).resolve().parents[2]
# Each with the siblings it imports (relatively, so that they resolve in this package too): the supervisor's process
# helpers, and the entry module's reading of TRL's command line and its trainer table.
_FILES = {
    "__init__.py": None,
    "__main__.py": _JOBS / "backends" / "ray" / "wrapper.py",
    "runner.py": _JOBS / "supervisor" / "runner.py",
    "procs.py": _JOBS / "supervisor" / "procs.py",
    "sampler.py": _JOBS / "supervisor" / "sampler.py",
    "logfile.py": _JOBS / "supervisor" / "logfile.py",
    "entry.py": _JOBS / "recipes" / "entry.py",
    "train.py": _JOBS / "backends" / "ray" / "train.py",
    "argv.py": _JOBS / "recipes" / "argv.py",
    "jobside.py": _JOBS / "recipes" / "jobside.py",
    "trainers.py": _JOBS / "recipes" / "trainers.py",
}


@functools.cache
def package() -> tuple[str, bytes]:
    """(package file name, zip bytes). The name holds a hash of the content, as Ray names its own uploads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in _FILES.items():
            # A fixed date keeps the bytes (and so the name) the same for the same sources.
            info = zipfile.ZipInfo(f"{PACKAGE}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, source.read_bytes() if source else b"")
    data = buffer.getvalue()
    return f"_ray_pkg_trl_jobs_{hashlib.sha256(data).hexdigest()[:16]}.zip", data


def wrapper_argv(spec: JobSpec, *, job_id: str, grace: float, gpu: bool, cancel: str) -> tuple[list[str], list[str]]:
    """(`-m trl_jobs_ray` and its options, the argv it runs) for `spec`: the entrypoint is a Python, these, `--`,
    then the argv (secret values redacted by the caller)."""
    options = ["-m", PACKAGE, "--job", job_id, "--timeout", f"{spec.timeout:g}", "--grace", f"{grace:g}",
               "--cancel", cancel]
    if spec.script:
        options += ["--script", *[f"--with={dep}" for dep in spec.dependencies]]
        options += ["--python", spec.python] if spec.python else []
        argv = [spec.script, *spec.script_args]
    else:
        argv = list(spec.command or [])
    if spec.working_dir:
        options += ["--cwd", spec.working_dir]
    if spec.idle_timeout is not None:
        options += ["--idle", f"{spec.idle_timeout:g}"]
    return options + (["--gpu"] if gpu else []), argv


def train_command(command: list[str], *, workers: int, flavor: Flavor) -> list[str] | None:
    """`command` (our training entry module's) as a Ray Train run of `workers` workers of `flavor` each; None for
    any other command, which cannot be split across workers."""
    entry = ["python", "-P", "-m", ENTRY_MODULE]
    if command[:len(entry)] != entry:
        return None
    placement = ["--workers", str(workers), "--cpus", f"{flavor.cpu:g}", "--memory", str(int(flavor.ram_gb * 10**9))]
    placement += ["--gpus", str(flavor.gpu_count)] if flavor.gpu_count else []
    return ["python", "-P", "-m", TRAIN_MODULE, *placement, "--", *command[len(entry):]]
