"""Backends: the places that run jobs. `make_backend` picks one by name and imports it only then.

The import is deferred because each backend pulls in its own world (SQLite and process control for `local`,
`huggingface_hub`'s HTTP stack for `hf`, an HTTP client and a small record for `ray`), and a server that runs one
should not pay for the others at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.models import InvalidJobSpec

if TYPE_CHECKING:
    from .base import Backend

# The one list of backend names (server/settings.py checks TRL_JOBS_BACKEND against it), with the keyword settings
# each backend's constructor takes; anything else given to make_backend is ignored, so a caller can pass one
# settings dict for every backend.
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "local": ("home", "slots", "grace", "log_mb"),
    "hf": ("token", "namespace", "endpoint"),
    "ray": ("home", "ray_address", "ray_token", "ray_cluster_env"),
}
BACKENDS = tuple(_ACCEPTS)
# Settings whose name is shared by several backends' worlds are prefixed; the constructor takes the plain name.
_RENAMES = {"ray_address": "address", "ray_token": "token", "ray_cluster_env": "cluster_env"}


def make_backend(name: str, **settings: Any) -> Backend:
    """Create the backend called `name`, importing its module only now.

    Args:
        name: "local" (the embedded executor on this machine), "hf" (Hugging Face Jobs) or "ray" (a Ray cluster).
        **settings: constructor settings; those the chosen backend does not take, and those that are None, are
            dropped. local: home, slots, grace, log_mb. hf: token, namespace, endpoint. ray: home, ray_address,
            ray_token, ray_cluster_env.

    Returns:
        The backend, not yet started: call `await backend.start()` once before use and `await backend.aclose()`
        at the end.

    Raises:
        InvalidJobSpec: `name` is not a known backend (field "backend").

    Example:
        >>> backend = make_backend("local", home="/tmp/trl-jobs", slots=2, token=None)
    """
    if name not in _ACCEPTS:
        raise InvalidJobSpec(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}.", field="backend")
    kwargs = {_RENAMES.get(key, key): value for key, value in settings.items()
              if key in _ACCEPTS[name] and value is not None}
    if name == "local":
        from .local import LocalBackend

        return LocalBackend(**kwargs)
    if name == "ray":
        from .ray import RayBackend

        return RayBackend(**kwargs)
    from .hf import HFBackend

    return HFBackend(**kwargs)
