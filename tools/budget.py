"""The spending ceiling (TRL_JOBS_MAX_COST_USD): a launch whose price x timeout exceeds it is refused, by how much.

Local runs cost nothing, so the ceiling applies to billed backends only (as run_job does it). A dry run is never
refused: it shows the excess instead, so the assistant can adjust the timeout or the flavor before launching.
"""

from __future__ import annotations

import math

from jobs.flavors import Flavor
from jobs.models import format_duration
from tools.base import ToolContext, usd


def budget_problem(ctx: ToolContext, flavor: Flavor, seconds: float) -> str | None:
    """Why a run of `seconds` on `flavor` is over the server's ceiling, and what would fit; None when it is not."""
    limit = ctx.max_cost_usd
    if limit is None or ctx.backend_name == "local":
        return None
    cost = flavor.cost(seconds)
    if cost <= limit:
        return None
    fits = ""
    if flavor.price_per_hour > 0:
        # Whole minutes, as the Jobs bill does, rounded down so the suggestion itself fits.
        minutes = math.floor(limit / flavor.price_per_hour * 60)
        fits = (f"shorten the timeout to at most {format_duration(minutes * 60)} on {flavor.name}, or "
                if minutes >= 1 else "")
    return (f"{flavor.name} for {format_duration(seconds)} may cost up to {usd(cost)}: {usd(cost - limit)} over "
            f"this server's spending limit of {usd(limit)} (TRL_JOBS_MAX_COST_USD). To stay within it, {fits}pick a "
            "cheaper flavor (call recommend_hardware or list_hardware).")
