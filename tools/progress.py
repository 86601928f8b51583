"""How often a long call tells the client how it is going: a progress notification costs the host a render and,
in some hosts, the model a read, so a one-second poll must not become one notification a second."""

from __future__ import annotations

import math
import time

from ..jobs.core.models import JobStage

EVERY_SECONDS = 10.0


class ProgressPace:
    """At most one notification every `every` seconds, sooner only when the job's stage changes."""

    def __init__(self, *, every: float = EVERY_SECONDS) -> None:
        self.every = every
        self._last_at = -math.inf
        self._last_stage: JobStage | None = None

    def due(self, stage: JobStage, *, now: float | None = None) -> bool:
        """Whether to send one now; if so it counts as sent."""
        now = time.monotonic() if now is None else now
        if stage == self._last_stage and now - self._last_at < self.every:
            return False
        self._last_at, self._last_stage = now, stage
        return True
