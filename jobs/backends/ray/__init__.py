"""Ray: jobs on the user's own cluster, through the dashboard's Job Submission REST API (ray itself is not imported).

`RayBackend` is imported lazily, so that what only needs the shipped package's names (the recipes) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import RayBackend

__all__ = ["RayBackend"]


def __getattr__(name: str) -> Any:
    if name == "RayBackend":
        from .backend import RayBackend

        return RayBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
