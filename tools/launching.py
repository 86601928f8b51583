"""What the two tools that start a job share (launch_training and run_job): the price and the spending ceiling,
the notes, the submit, and the text a model reads. Each keeps its own Input and Output; the fields named here are
the ones both Outputs declare.

The ceiling (TRL_JOBS_MAX_COST_USD) applies to billed backends only: local runs cost nothing. A dry run is never
refused: it shows the excess instead, so the assistant can adjust the timeout or the flavor before launching.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

from trl_jobs_mcp.jobs.flavors import Flavor
from trl_jobs_mcp.jobs.models import InvalidJobSpec, JobSpec, format_duration
from trl_jobs_mcp.tools.base import ToolContext, next_call, usd

LOCAL_NOTE = "Runs on this machine at no charge; the price is what Hugging Face Jobs bills for this flavor."


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


def planned(ctx: ToolContext, spec: JobSpec, flavor: Flavor, *, dry_run: bool,
            hub_note: str | None) -> dict[str, Any]:
    """The Output fields both tools fill before the job exists: where, what it costs, what runs, and the notes
    (`hub_note` on a billed backend).

    Raises:
        InvalidJobSpec: (field timeout) the run may cost more than the server's ceiling, and this is no dry run.
    """
    notes = [LOCAL_NOTE] if ctx.backend_name == "local" else [hub_note] if hub_note else []
    over_budget = budget_problem(ctx, flavor, spec.timeout)
    if over_budget and not dry_run:
        raise InvalidJobSpec(over_budget, field="timeout")
    if over_budget:
        notes.append(f"A launch would be refused: {over_budget}")
    return {"dry_run": dry_run, "backend": ctx.backend_name, "flavor": flavor.name,
            "price_per_hour": flavor.price_per_hour, "timeout": format_duration(spec.timeout),
            "timeout_seconds": spec.timeout, "cost_ceiling_usd": round(flavor.cost(spec.timeout), 4),
            "command": spec.redacted_command(), "env_names": sorted(spec.env), "secret_names": sorted(spec.secrets),
            "labels": spec.labels, "notes": notes}


async def submit(ctx: ToolContext, spec: JobSpec, out: Any) -> Any:
    """`out` (launch_training's or run_job's Output) once `spec` is submitted: the job's id, stage and page, and
    what the backend reports for the command, labels and output folder over the plan. A dry run's comes back as is."""
    if out.dry_run:
        return out
    info = await ctx.backend.submit(spec)
    update = {"job_id": info.id, "stage": info.stage, "url": info.url, "command": info.command or out.command,
              "labels": info.labels or out.labels}
    if "output_dir" in type(out).model_fields:
        update["output_dir"] = info.output_dir or out.output_dir
    return out.model_copy(update=update)


def render_launch(out: Any, *, tool: str, what: str) -> str:
    """The text for `out`, a launch or a dry run by `tool`: `what` runs where at what price, the command, the
    names of env and secrets, the equivalent hf line, where results go, the notes, and the next call."""
    price = (f"{out.flavor} ({usd(out.price_per_hour)}/h; at most {usd(out.cost_ceiling_usd)} for the "
             f"{out.timeout} timeout)")
    if out.dry_run:
        lines = [f"Dry run, nothing was created: {what}, flavor {price}."]
    else:
        lines = [f"Launched job {out.job_id}: {what}, flavor {price}. Stage: {out.stage.value if out.stage else '?'}."]
    lines.append("Command: " + shlex.join(out.command))
    if out.env_names:
        lines.append("Environment variables: " + ", ".join(out.env_names) + ".")
    if out.secret_names:
        lines.append("Secrets (values never shown): " + ", ".join(out.secret_names) + ".")
    if out.hf_command:
        lines.append(f"Equivalent: {out.hf_command}")
    if getattr(out, "output_dir", None):
        lines.append(f"Results go to {out.output_dir}.")
    if out.url:
        lines.append(f"Page: {out.url}")
    lines += out.notes
    if out.dry_run:
        lines.append(f"Call {tool} with the same arguments and dry_run=false to start it.")
    else:
        lines.append(f"{next_call('wait_for_job', job_id=out.job_id)} to follow it to the end (step, loss, "
                     "where the model lands).")
    return "\n".join(lines)
