"""inspect_job: one job as it is now: stage, message, timings, flavor, command (redacted), where its results are."""

from __future__ import annotations

from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from ..jobs.analysis.calibration import CalibrationStore, outcome_text, settle
from ..jobs.analysis.cost import CostSoFar, cost_so_far
from ..jobs.analysis.diagnose import Diagnosis, diagnose_job
from ..jobs.analysis.metrics.quiet import quiet_note
from ..jobs.core.models import JobInfo, JobStage
from ..jobs.extras.outputs import Outputs, job_outputs
from ..jobs.recipes.readback import ModelLocation, model_location
from .base import (JobId, ToolContext, ToolDef, ToolInput, human_duration, next_call,
                                     seconds_since, usd)


class Input(ToolInput):
    job_id: JobId


class Output(BaseModel):
    job: JobInfo
    finished: bool = Field(description="true once the job is COMPLETED, CANCELED, ERROR or DELETED")
    runtime_seconds: Annotated[float | None, Field(
        description="seconds it has run (until it finished, or until now)")] = None
    diagnosis: Annotated[Diagnosis | None, Field(
        description="for a job in ERROR: the cause recognised in its log and message, and the fix")] = None
    model: Annotated[ModelLocation | None, Field(description="where a training job's model is")] = None
    cost: Annotated[CostSoFar | None, Field(description="what it has cost so far, on a billed backend")] = None
    quiet: Annotated[str | None, Field(description="a running job with no output and no work for a while")] = None
    outputs: Annotated[Outputs | None, Field(description="its output folder: size and checkpoints")] = None
    forecast: str | None = Field(default=None, description="its launch's forecast, and the actual once it ended")


async def inspect_job(args: Input, ctx: ToolContext) -> Output:
    job = await ctx.backend.inspect(args.job_id)
    runtime = seconds_since(job.started_at, until=job.finished_at) if job.started_at else None
    return Output(job=job, finished=job.finished, runtime_seconds=runtime,
                  diagnosis=await diagnose_job(ctx.backend, job),
                  model=model_location(job, keeps_files=ctx.backend.traits.keeps_files),
                  cost=cost_so_far(job, billed=ctx.backend.traits.billed),
                  outputs=job_outputs(job) if ctx.backend.traits.keeps_files else None,
                  quiet=await quiet_job(ctx, job), forecast=await forecast_of(ctx, job))


async def quiet_job(ctx: ToolContext, job: JobInfo) -> str | None:
    """What the supervisor's samples say of a running job that prints nothing and works on nothing."""
    if job.stage != JobStage.RUNNING or not ctx.backend.traits.system_history:
        return None
    return quiet_note(await ctx.backend.system_metrics(job.id))


async def forecast_of(ctx: ToolContext, job: JobInfo) -> str | None:
    """The launch's forecast against what the job measured (settled into the calibration once it completed)."""
    if ctx.state_home is None:
        return None
    return outcome_text(await settle(CalibrationStore(ctx.state_home), ctx.backend, job))


def ended(text: str | None) -> str:
    """A message as the end of a sentence: "canceled by request" -> ": canceled by request."."""
    return f": {text.rstrip().rstrip('.')}." if text else "."


def cost_line(cost: CostSoFar | None) -> str | None:
    if cost is None:
        return None
    return (f"Cost {'in all' if cost.final else 'so far'}: {usd(cost.usd)} ({cost.billed_minutes} billed "
            f"minute(s) at {usd(cost.price_per_hour)}/h).")


def render(out: Output) -> str:
    job = out.job
    trainer = job.labels.get("trainer")
    what = f"Job {job.id}" + (f" ({trainer})" if trainer else "")
    where = f" on {job.flavor}" if job.flavor else ""
    limit = f", timeout {human_duration(job.timeout)}" if job.timeout else ""
    lines: list[str] = []
    if job.stage == JobStage.SCHEDULING:
        lines.append(f"{what} is SCHEDULING{where}: waiting for a free slot{limit}.")
        lines.append(f"{next_call('inspect_job', job_id=job.id)} again in a little while, or list_jobs to see "
                     "what is running ahead of it.")
    elif job.stage == JobStage.RUNNING:
        lines.append(f"{what} is RUNNING{where} for {human_duration(out.runtime_seconds)}{limit}.")
        lines.append(f"{next_call('wait_for_job', job_id=job.id)} to follow it, or cancel_job to stop it.")
    elif job.stage == JobStage.COMPLETED:
        lines.append(f"{what} COMPLETED{where} in {human_duration(out.runtime_seconds)}.")
        if out.model is None and job.output_dir:
            lines.append(f"Its results are in {job.output_dir}.")
        lines.append(f"{next_call('job_metrics', job_id=job.id)} for its training curves." if out.model else
                     f"{next_call('fetch_logs', job_id=job.id, tail=50)} to read the end of its log.")
    elif job.stage == JobStage.ERROR:
        lines.append(f"{what} ended in ERROR{where}" + ended(job.message)
                     + (f" (exit code {job.exit_code})" if job.exit_code is not None else ""))
        if out.diagnosis is not None:
            lines.append(f"Likely cause: {out.diagnosis.text}")
            lines.append(f"{next_call('fetch_logs', job_id=job.id, tail=50)} to confirm it in the log.")
        else:
            lines.append(f"{next_call('fetch_logs', job_id=job.id, tail=50)} to see why it failed.")
    elif job.stage == JobStage.CANCELED:
        lines.append(f"{what} was CANCELED{where}" + ended(job.message)
                     + f" It ran {human_duration(out.runtime_seconds)}.")
        lines.append(f"{next_call('fetch_logs', job_id=job.id, tail=50)} to see how far it got.")
    else:
        lines.append(f"{what} is {job.stage.value}" + (f": {job.message}" if job.message else "."))
        lines.append(f"{next_call('list_jobs')} to see the jobs that remain.")
    files = out.outputs.text() if out.outputs else None
    if files and job.finished:
        files += f" {next_call('cancel_job', job_id=job.id, delete_files=True)} deletes them (the record stays)."
    extra = [t for t in (out.quiet, out.model.text if out.model else None, files, cost_line(out.cost),
                         out.forecast) if t]
    lines[1:1] = extra
    if job.command:
        lines.insert(1, "Command: " + " ".join(job.command))
    if job.url:
        lines.insert(1, f"Page: {job.url}")
    return "\n".join(lines)


TOOL = ToolDef(
    name="inspect_job",
    title="Inspect a training job",
    description="One job: stage, message, times, flavor, labels, command, where its model is, cost so far, a failure's likely cause.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=inspect_job,
    render=render,
)
