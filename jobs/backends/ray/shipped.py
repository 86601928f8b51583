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

PACKAGE = "trl_jobs_ray"
ENTRY_MODULE = f"{PACKAGE}.entry"  # `python -m trl_jobs_ray.entry <trainer> ...`: recipes/entry.py on the cluster

_JOBS = Path(__file__).resolve().parents[2]
# Each with the siblings it imports (relatively, so that they resolve in this package too): the supervisor's process
# helpers, and the entry module's reading of TRL's command line and its trainer table.
_FILES = {
    "__init__.py": None,
    "__main__.py": _JOBS / "backends" / "ray" / "wrapper.py",
    "runner.py": _JOBS / "supervisor" / "runner.py",
    "procs.py": _JOBS / "supervisor" / "procs.py",
    "sampler.py": _JOBS / "supervisor" / "sampler.py",
    "entry.py": _JOBS / "recipes" / "entry.py",
    "argv.py": _JOBS / "recipes" / "argv.py",
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
