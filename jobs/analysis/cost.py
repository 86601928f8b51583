"""What a job has cost so far: its billed runtime times its flavor's price, by the minute as Hugging Face bills.

Keyed on what the backend states (`traits.billed`, and the flavor's price from its catalog), never on its name.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from ..core.flavors import Flavor, get_flavor
from ..core.models import InvalidJobSpec, JobInfo


class CostSoFar(BaseModel):
    usd: float = Field(description="billed minutes x price per hour / 60")
    billed_minutes: int = Field(description="whole minutes started since the job began running")
    price_per_hour: float
    final: bool = Field(description="true once the job has ended: this is the whole bill")


def billed_minutes(job: JobInfo, *, now: datetime | None = None) -> int:
    """Minutes started from the job's start to its end (or now): Hugging Face bills each started minute."""
    if job.started_at is None:
        return 0
    end = job.finished_at or now or datetime.now(UTC)
    start = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return max(0, math.ceil((end - start).total_seconds() / 60))


def cost_so_far(job: JobInfo, *, billed: bool, flavor: Flavor | None = None,
                now: datetime | None = None) -> CostSoFar | None:
    """The job's cost so far, or None when the backend does not bill (or the flavor's price is unknown).

    Args:
        billed: the backend bills runs (its BackendTraits.billed).
        flavor: the job's flavor with the backend's price; default the catalog's entry for `job.flavor`.

    Example:
        >>> from datetime import timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> job = JobInfo(id="j", backend="x", stage="COMPLETED", flavor="a100-large", started_at=t,
        ...               finished_at=t + timedelta(seconds=61))
        >>> cost_so_far(job, billed=True).usd  # 2 minutes at $2.50/h
        0.0833
    """
    if not billed or not job.flavor:
        return None
    if flavor is None:
        try:
            flavor = get_flavor(job.flavor)
        except InvalidJobSpec:
            return None
    minutes = billed_minutes(job, now=now)
    return CostSoFar(usd=round(flavor.price_per_hour * minutes / 60, 4), billed_minutes=minutes,
                     price_per_hour=flavor.price_per_hour, final=job.finished)
