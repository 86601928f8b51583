"""The idle guard's words: reading `idle_timeout`, and what a job stopped for idling says, with its cost so far.

The guard itself travels with the job, so that it works with no server running: on this machine the job's
supervisor enforces it (jobs/supervisor/runner.py), on a Ray node the same supervisor under the job's wrapper
(backends/ray/wrapper.py), on Hugging Face Jobs a small wrapper in the job's own command (backends/hf/guard.py). Both judge "idle" by jobs/supervisor/sampler.py: no log output, and GPU use (CPU use for a job
without GPUs) under a few percent, for the whole of `idle_timeout`.
"""

from __future__ import annotations

import re

from .flavors import get_flavor
from .durations import format_duration, parse_timeout
from .errors import InvalidJobSpec, JobsError

OFF = ("off", "none", "0", "false", "no")
DEFAULT_IDLE_TIMEOUT = "30m"
# Shorter would stop a job that is merely loading a model or a dataset quietly.
MIN_IDLE_TIMEOUT_S = 60.0
# The line both guards write to the job's log when they stop it; diagnose reads it back.
IDLE_LINE = re.compile(r"\[trl-jobs\] idle for (\d+) minutes?")


def parse_idle_timeout(value: str | int | float | None, *, field: str = "idle_timeout",
                       minimum: float = MIN_IDLE_TIMEOUT_S) -> float | None:
    """'20m', 1200, ... -> seconds; 'off' (or 0) -> None, no guard. Raises InvalidJobSpec naming `field`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in OFF) or (
            isinstance(value, int | float) and not isinstance(value, bool) and value == 0):
        return None
    seconds = parse_timeout(value, field=field)
    if seconds < minimum:
        raise InvalidJobSpec(f"{value!r} is shorter than {format_duration(minimum)}, which would stop a job that is "
                             "only loading a model quietly. Use '20m' or so, or 'off'.", field=field)
    return seconds


def idle_message(*, idle_s: float, gpu: bool, idle_timeout: float, flavor: str | None, ran_s: float,
                 billed: bool) -> str:
    """What an idle-stopped job says: for how long it idled, why that counts, and what it cost so far (billed per
    the flavor's price when `billed`, else nothing, with what Hugging Face would have billed)."""
    minutes = max(1, round(idle_s / 60))
    what = "GPU" if gpu else "CPU"
    text = (f"idle for {minutes} minute{'s' if minutes != 1 else ''} (no log output, {what} use near zero), stopped by the idle guard "
            f"(idle_timeout {format_duration(idle_timeout)}) after running {format_duration(round(ran_s))}")
    try:
        found = get_flavor(flavor or "")
    except JobsError:
        return text + "."
    cost = found.cost(ran_s)
    if billed:
        return text + f"; cost so far about ${cost:.2f} ({found.name} at ${found.price_per_hour:.2f}/h)."
    return text + f"; cost so far $0.00 on this machine ({found.name} on Hugging Face would have billed ${cost:.2f})."
