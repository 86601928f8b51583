"""The embedded local executor: jobs run as process groups on this machine.

`LocalBackend` is imported lazily so that `python -I -S .../runner.py` (the per-job supervisor) and anything that
only needs the paths stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import LocalBackend
    from .paths import JobPaths

__all__ = ["JobPaths", "LocalBackend"]


def __getattr__(name: str) -> Any:
    if name == "LocalBackend":
        from .backend import LocalBackend

        return LocalBackend
    if name == "JobPaths":
        from .paths import JobPaths

        return JobPaths
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
