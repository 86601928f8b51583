"""The `ray job submit ...` command line that launches a spec by hand (no network)."""

from __future__ import annotations

import json
from typing import Any

from ...core.flavors import get_flavor
from ...core.models import JobSpec


def ray_command_line(spec: JobSpec, *, address: str, cluster_env: bool, driver_only: bool = False) -> list[str]:
    """The `ray job submit` argv that runs `spec`'s command by hand on the cluster at `address`.

    It runs the command as it is, without the wrapper every job of ours runs under: no timeout, no cancel marker,
    and a training job's entry module is the one the server ships with each job. Secrets appear by name only
    (`$NAME` in the runtime environment) and any secret value in an argument is replaced with `<redacted>`.

    Example:
        >>> ray_command_line(JobSpec(command=["python", "-c", "print(1)"]), address="http://127.0.0.1:8265",
        ...                  cluster_env=False)
        ['ray', 'job', 'submit', '--address', 'http://127.0.0.1:8265', '--entrypoint-num-cpus', '2', ...]
    """
    flavor = get_flavor(spec.flavor)
    argv = ["ray", "job", "submit", "--address", address]
    if not driver_only:  # else the command asks for its workers' resources itself (a Ray Train run)
        argv += ["--entrypoint-num-cpus", str(flavor.cpu), "--entrypoint-memory", str(int(flavor.ram_gb * 1e9))]
    if flavor.gpu_count and not driver_only:
        argv += ["--entrypoint-num-gpus", str(flavor.gpu_count)]
    env = {**spec.env, **{name: f"${name}" for name in spec.secrets}}
    if env or spec.dependencies:
        runtime_env: dict[str, Any] = {"env_vars": env} if env else {}
        if spec.dependencies and not cluster_env and not spec.script:
            runtime_env["pip"] = list(spec.dependencies)
        argv += ["--runtime-env-json", json.dumps(runtime_env)]
    argv += ["--metadata-json", json.dumps(spec.labels)] if spec.labels else []
    return argv + ["--", *spec.redacted_command()]
