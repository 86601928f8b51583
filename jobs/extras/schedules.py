"""Scheduled jobs: a job spec that a backend runs again and again on a schedule, as `hf jobs scheduled` does.

A schedule is written as Hugging Face writes it: one of the `@` shorthands or a five-field cron expression
("minute hour day-of-month month day-of-week", UTC). Backends that keep schedules say so with
`traits.supports_schedules`; the others answer every call with `SchedulesUnsupported`, which names the field to
drop.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field

from ..core.models import InvalidJobSpec

SHORTHANDS = ("@annually", "@yearly", "@monthly", "@weekly", "@daily", "@hourly")
# One cron field: numbers, ranges, steps, lists, '*', and the month/day names cron accepts.
_CRON_FIELD = re.compile(r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/\d+)?)*$")
SCHEDULE_FORMS = "'@hourly', '@daily', '@weekly', '@monthly', '@yearly', or cron such as '0 9 * * 1' (UTC)"


def check_schedule(value: str, *, field: str = "schedule") -> str:
    """The schedule, trimmed, if Hugging Face would accept it; else InvalidJobSpec naming `field`.

    Example:
        >>> check_schedule(" @daily ")
        '@daily'
    """
    text = " ".join(str(value).split())
    if text.lower() in SHORTHANDS:
        return text.lower()
    parts = text.split(" ")
    if len(parts) != 5 or not all(_CRON_FIELD.match(part) for part in parts):
        raise InvalidJobSpec(f"cannot read {value!r} as a schedule. Use {SCHEDULE_FORMS}.", field=field)
    return text


class SchedulesUnsupported(InvalidJobSpec):
    """This backend has no scheduled jobs (the local executor runs only while its server does)."""

    def __init__(self, backend: str, *, field: str = "schedule") -> None:
        # field: `schedule` on a launch (drop it to run once now); `action` on scheduled_jobs (nothing to manage).
        fix = ("Drop `schedule` to run it once now, or start the server with --backend hf." if field == "schedule"
               else "There is nothing to list or change here; start the server with --backend hf to manage them.")
        super().__init__(f"the {backend} backend has no scheduled jobs: only Hugging Face Jobs runs a job on a "
                         f"schedule. {fix}", field=field)


class ScheduledJob(BaseModel):
    """A scheduled job as its backend sees it now; every string already scrubbed of secret values."""

    id: str
    backend: str
    schedule: str | None = None
    suspended: bool = False
    concurrency: bool = Field(default=False, description="whether runs may overlap")
    next_run_at: datetime | None = None
    last_job_id: str | None = Field(default=None, description="the job of the latest run, for inspect_job")
    created_at: datetime | None = None
    flavor: str | None = None
    command: list[str] = Field(default_factory=list, description="with secret values redacted")
    labels: dict[str, str] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, description="seconds per run")
