"""What the two tools that start a job share (launch_training and run_job): the plan (where, what it costs, what
runs, the notes), the spending ceiling, the submit, and the text a model reads.

`LaunchPlan` is the one typed base of both answers: each tool's Output is a view of it plus its own fields (the
Outputs stay separate models so that each tool's schema says exactly what it returns).

The ceiling (TRL_JOBS_MAX_COST_USD) applies to billed backends only (`backend.traits.billed`). A dry run is never
refused: it shows the excess instead, so the assistant can adjust the timeout or the flavor before launching.
"""

from __future__ import annotations

import math
import shlex
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field

from ..jobs.core.flavors import Flavor
from ..jobs.core.guard import parse_idle_timeout
from ..jobs.core.models import (DEFAULT_TIMEOUT, BackendUnavailable, InvalidJobSpec, JobSpec, JobStage,
                                      format_duration, parse_timeout)
from ..jobs.extras.schedules import SchedulesUnsupported, check_schedule
from ..jobs.extras.uploads import LocalUpload
from .base import ToolContext, next_call, usd

DEFAULT_TIMEOUT_NOTE = ("The timeout is the default {timeout}: at its end the job is stopped (stage ERROR, "
                        "\"timeout\") and what it has not saved or pushed is lost. Pass a longer timeout for a "
                        "longer run.")


IdleTimeout = Annotated[str | int | None, Field(
    description="Stop when log and GPU/CPU idle this long ('20m'; 'off').")]


def idle_timeout(value: str | int | None, ctx: ToolContext) -> float | None:
    """The launch's idle_timeout in seconds (None: no guard): its own, else the server's default."""
    return ctx.idle_timeout if value is None else parse_idle_timeout(value)


class LaunchPlan(BaseModel):
    """A launch, planned and then (unless a dry run) submitted: the facts both tools answer."""

    dry_run: bool
    backend: str
    flavor: str
    price_per_hour: float
    timeout: str
    timeout_seconds: float
    cost_ceiling_usd: float
    idle_timeout: str | None = None
    command: list[str]
    env_names: list[str]
    secret_names: list[str]
    labels: dict[str, str]
    notes: list[str]
    hf_command: str | None = None
    output_dir: str | None = None
    job_id: str | None = None
    stage: JobStage | None = None
    url: str | None = None
    # --- Hub extras (issue 15): a scheduled launch, local inputs uploaded first ---
    schedule: str | None = None
    scheduled_job_id: str | None = None
    next_run_at: datetime | None = None
    uploads: list[LocalUpload] = []

    def answer(self, output: type[Any], **own: Any) -> Any:
        """`output` (a tool's Output model) from this plan's fields that it declares, plus its `own` fields."""
        return output(**self.model_dump(include=set(output.model_fields) - set(own)), **own)


class LaunchAnswer(Protocol):
    """What render_launch reads from a tool's Output (both Outputs have these fields, from a LaunchPlan)."""

    dry_run: bool
    job_id: str | None
    stage: JobStage | None
    flavor: str
    price_per_hour: float
    timeout: str
    cost_ceiling_usd: float
    idle_timeout: str | None
    command: list[str]
    env_names: list[str]
    secret_names: list[str]
    url: str | None
    notes: list[str]
    schedule: str | None
    scheduled_job_id: str | None
    next_run_at: datetime | None

    # Read-only, so that run_job's Output may narrow it to str (a protocol's plain attribute is invariant).
    @property
    def hf_command(self) -> str | None: ...


async def priced_flavor(ctx: ToolContext, name: str) -> Flavor:
    """The flavor at the price its backend bills today: list_jobs_hardware's live price where the backend has one
    (kept a few minutes), the built-in table otherwise. A bad name is refused before any network call."""
    flavor = ctx.backend.check_flavor(name)
    if not ctx.backend.traits.billed:
        return flavor  # the price only informs; nothing to ask a backend that may be unreachable (a dry run)
    try:
        await ctx.backend.hardware()
    except BackendUnavailable:
        return flavor  # the built-in table's price; the launch itself will say what is unreachable
    return ctx.backend.check_flavor(name)


def checked_schedule(ctx: ToolContext, schedule: str | None) -> str | None:
    """The schedule, checked, when the backend keeps schedules; SchedulesUnsupported when it does not."""
    if schedule is None:
        return None
    if not ctx.backend.traits.supports_schedules:
        raise SchedulesUnsupported(ctx.backend.name)
    return check_schedule(schedule)


def budget_problem(ctx: ToolContext, flavor: Flavor, seconds: float) -> str | None:
    """Why a run of `seconds` on `flavor` is over the server's ceiling, and what would fit; None when it is not."""
    limit = ctx.max_cost_usd
    if limit is None or not ctx.backend.traits.billed:
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


def plan(ctx: ToolContext, spec: JobSpec, flavor: Flavor, *, dry_run: bool, files_note: str | None,
         notes: list[str] | None = None, schedule: str | None = None) -> LaunchPlan:
    """The launch before the job exists: where, what it costs, what runs, the equivalent command line, the notes
    (`files_note`, what becomes of the job's files, where the backend does not keep what a job writes, then
    `notes`). With `schedule` (from checked_schedule), a scheduled job that runs `spec` on it.

    Raises:
        InvalidJobSpec: (field timeout) the run may cost more than the server's ceiling, and this is no dry run.
    """
    traits = ctx.backend.traits
    extra, notes = notes or [], []
    if not traits.billed:
        notes.append(f"Runs on {traits.place} at no charge; the price is what Hugging Face Jobs bills for this "
                     "flavor.")
    if not traits.keeps_files and files_note:
        notes.append(files_note)
    notes += extra
    if spec.timeout == parse_timeout(None):
        notes.append(DEFAULT_TIMEOUT_NOTE.format(timeout=DEFAULT_TIMEOUT))
    over_budget = budget_problem(ctx, flavor, spec.timeout)
    if over_budget and not dry_run:
        raise InvalidJobSpec(over_budget, field="timeout")
    if over_budget:
        notes.append(f"A launch would be refused: {over_budget}")
    # Only a backend with schedules is asked for a scheduled line (checked_schedule refused the others).
    line = ctx.backend.command_line(spec, schedule=schedule) if schedule else ctx.backend.command_line(spec)
    return LaunchPlan(dry_run=dry_run, backend=ctx.backend.name, flavor=flavor.name,
                      price_per_hour=flavor.price_per_hour, timeout=format_duration(spec.timeout),
                      timeout_seconds=spec.timeout, cost_ceiling_usd=round(flavor.cost(spec.timeout), 4),
                      idle_timeout=format_duration(spec.idle_timeout) if spec.idle_timeout else None,
                      command=spec.redacted_command(), env_names=sorted(spec.env), secret_names=sorted(spec.secrets),
                      labels=spec.labels, notes=notes, hf_command=shlex.join(line) if line else None,
                      output_dir=spec.output_dir, schedule=schedule)


async def submit(ctx: ToolContext, spec: JobSpec, planned: LaunchPlan) -> LaunchPlan:
    """`planned` once `spec` is submitted, or scheduled with `planned.schedule`: the job's id, stage and page (or
    the scheduled job's id and next run), and what the backend reports for the command, labels and output folder
    over the plan. A dry run's comes back as is, once the backend has checked the spec as its launch would."""
    if planned.dry_run:
        await ctx.backend.check(spec)  # a dry run refuses exactly what the launch would, creating nothing
        return planned
    if planned.schedule:
        scheduled = await ctx.backend.schedule(spec, schedule=planned.schedule)
        return planned.model_copy(update={
            "scheduled_job_id": scheduled.id, "next_run_at": scheduled.next_run_at,
            "command": scheduled.command or planned.command, "labels": scheduled.labels or planned.labels})
    info = await ctx.backend.submit(spec)
    return planned.model_copy(update={
        "job_id": info.id, "stage": info.stage, "url": info.url, "command": info.command or planned.command,
        "labels": info.labels or planned.labels, "output_dir": info.output_dir or planned.output_dir})


def render_launch(out: LaunchAnswer, *, tool: str, what: str, then: str, output_dir: str | None = None,
                  uploads: list[LocalUpload] | None = None) -> str:
    """The text for `out`, a launch or a dry run by `tool`: `what` runs where at what price, the command, the
    names of env and secrets, the equivalent command line, where results go, the notes, and the next call (`then`,
    the tool's own, once a job exists)."""
    price = (f"{out.flavor} ({usd(out.price_per_hour)}/h; at most {usd(out.cost_ceiling_usd)} for the "
             f"{out.timeout} timeout)")
    schedule = out.schedule
    if out.dry_run:
        lines = [f"Dry run, nothing was created: {what}, flavor {price}."]
    elif schedule:
        lines = [f"Scheduled job {out.scheduled_job_id}: {what}, runs {schedule} (UTC), next at "
                 f"{out.next_run_at or '?'}; each run on flavor {price}. Nothing runs until then."]
    else:
        lines = [f"Launched job {out.job_id}: {what}, flavor {price}. Stage: {out.stage.value if out.stage else '?'}."]
    lines.append("Command: " + shlex.join(out.command))
    if out.env_names:
        lines.append("Environment variables: " + ", ".join(out.env_names) + ".")
    if out.secret_names:
        lines.append("Secrets (values never shown): " + ", ".join(out.secret_names) + ".")
    if out.idle_timeout:
        lines.append(f"Idle guard: stopped (ERROR) once its log is silent and its GPU (on a CPU flavor, CPU) idle for "
                     f"{out.idle_timeout}, even with no server running.")
    if out.hf_command and out.hf_command != shlex.join(out.command):
        lines.append(f"Equivalent: {out.hf_command}")
    if output_dir:
        lines.append(f"Results go to {output_dir}.")
    if out.url:
        lines.append(f"Page: {out.url}")
    lines += out.notes
    for upload in uploads or []:
        lines.append(f"Local {upload.field}: {upload.describe()} [{upload.status}].")
    if out.dry_run:
        lines.append(f"Call {tool} with the same arguments and dry_run=false to start it.")
    elif schedule:
        lines.append(f"{next_call('scheduled_jobs', action='inspect', scheduled_job_id=out.scheduled_job_id)}, or "
                     "action='trigger' to run it now, 'suspend' to pause it.")
    else:
        lines.append(then)
    return "\n".join(lines)
