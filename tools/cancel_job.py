"""cancel_job: stop a job. Cancelling one that has already finished says so and changes nothing."""

from __future__ import annotations

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from ..jobs.analysis.cost import CostSoFar, cost_so_far
from ..jobs.core.models import JobStage
from .base import JobId, ToolContext, ToolDef, ToolInput, next_call
from .inspect_job import cost_line


class Input(ToolInput):
    job_id: JobId


class Output(BaseModel):
    job_id: str
    stage: JobStage = Field(description="the job's stage after the call")
    already_finished: bool = Field(description="true when the job had ended before this call; nothing changed")
    message: str | None = None
    cost: CostSoFar | None = Field(default=None, description="what the job cost until now, on a billed backend")


async def cancel_job(args: Input, ctx: ToolContext) -> Output:
    before = await ctx.backend.inspect(args.job_id)
    if before.finished:
        return Output(job_id=before.id, stage=before.stage, already_finished=True, message=before.message,
                      cost=cost_so_far(before, billed=ctx.backend.traits.billed))
    after = await ctx.backend.cancel(args.job_id)
    # It may have ended on its own between the two calls: then the cancel changed nothing either.
    ended_first = after.stage != JobStage.CANCELED and after.finished
    return Output(job_id=after.id, stage=after.stage, already_finished=ended_first, message=after.message,
                  cost=cost_so_far(after, billed=ctx.backend.traits.billed))


def render(out: Output) -> str:
    cost = cost_line(out.cost)
    return f"{_render(out)} {cost}" if cost else _render(out)


def _render(out: Output) -> str:
    if out.already_finished:
        return (f"Job {out.job_id} had already finished ({out.stage.value}); nothing was changed. "
                f"{next_call('inspect_job', job_id=out.job_id)} for its results.")
    if out.stage == JobStage.CANCELED:
        return (f"Job {out.job_id} is CANCELED: its processes were stopped. "
                f"{next_call('fetch_logs', job_id=out.job_id, tail=50)} to see how far it got, or list_jobs "
                "for the others.")
    return (f"Job {out.job_id} is being stopped (stage {out.stage.value}). "
            f"{next_call('inspect_job', job_id=out.job_id)} in a moment to confirm it is CANCELED.")


TOOL = ToolDef(
    name="cancel_job",
    title="Cancel a training job",
    description="Stop a SCHEDULING or RUNNING job and all its processes; a finished job is left as is.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                idempotent_hint=True, open_world_hint=False),
    run=cancel_job,
    render=render,
)
