"""A job's secrets package, emptied once the job has ended.

The secrets wait in the GCS under a one-time key (submit) that the wrapper deletes as it reads them. A job that never
ran its wrapper (cancelled while PENDING, a runtime env that failed to build) leaves them there, readable by anyone
who can reach the GCS, under a key GET /api/jobs/ shows in the entrypoint. The REST API cannot delete a package, but
it can overwrite one (Ray's upload replaces the value) and pin it: a pinned package nobody uses is deleted by the GCS
once the pin expires. So at every ending we see, the package is emptied now and removed later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .client import RayClient

SECRETS_PREFIX = "trl_jobs_secrets_"
_KEY = re.compile(r"--secrets gcs://(" + SECRETS_PREFIX + r"[A-Za-z0-9_.-]+)")
_ENDED = ("STOPPED", "SUCCEEDED", "FAILED")


def secrets_key(details: dict[str, Any]) -> str | None:
    """The GCS package name that held the job's secrets, from its entrypoint; None for a job without secrets."""
    found = _KEY.search(str(details.get("entrypoint") or ""))
    return found.group(1) if found else None


async def forget_secrets(client: RayClient, jobs: Iterable[dict[str, Any]], *, done: set[str],
                         ended: bool = False) -> None:
    """Empty the secrets package of each of `jobs` that Ray reports ended (or all of them, `ended=True`: a cancel),
    once per package per server (`done` keeps the names)."""
    for details in jobs:
        key = secrets_key(details)
        if key is None or key in done or not (ended or details.get("status") in _ENDED):
            continue
        if await client.has_package(key):  # pinned by asking: the GCS deletes it when the pin expires
            await client.put_package(key, b"")
        done.add(key)
