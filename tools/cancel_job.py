"""cancel_job: stop a job, several by id, or every unfinished job with some labels. Cancelling one that has already
finished says so and changes nothing.

Several at once go queued first: a queued job is dropped before the running one ahead of it stops, so that no slot
frees up for a job about to be cancelled (cancelling 50 queued jobs one call at a time started 49 of them).
"""

from __future__ import annotations

from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool, StringConstraints, WithJsonSchema

from ..jobs.analysis.cost import CostSoFar, cost_so_far
from ..jobs.core.models import InvalidJobSpec, JobInfo, JobStage
from ..jobs.core.local_tree import human_bytes
from ..jobs.extras.outputs import Outputs, delete_outputs
from .base import ToolContext, ToolDef, ToolInput, next_call
from .inspect_job import cost_line


# A label filter matching more unfinished jobs than this is refused rather than half done.
MAX_JOBS = 100
_Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# One id or a list, in a lighter schema than pydantic's (which repeats the id's bounds in both branches); an id
# over 200 characters is still refused, naming job_id.
_Ids = Annotated[_Id | Annotated[list[_Id], Field(max_length=MAX_JOBS)], WithJsonSchema(
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": MAX_JOBS}],
     "description": "An id or a list."})]


class Input(ToolInput):
    job_id: _Ids | None = None
    labels: Annotated[dict[str, str] | None, Field(description="Or: all unfinished with these.")] = None
    delete_files: Annotated[StrictBool, Field(description="Delete ended job's files.")] = False


class Output(BaseModel):
    job_id: str | None = Field(default=None, description="the job, when one was named")
    stage: JobStage | None = Field(default=None, description="the job's stage after the call")
    already_finished: bool = Field(description="true when the job had ended before this call; nothing changed")
    message: str | None = None
    cost: CostSoFar | None = Field(default=None, description="what the job cost until now, on a billed backend")
    canceled: list[str] = Field(default_factory=list, description="several: the jobs this call stopped")
    ended: list[str] = Field(default_factory=list, description="several: the jobs that had already ended")
    deleted: bool = Field(default=False, description="delete_files: the job's output folder is gone")
    freed: Outputs | None = Field(default=None, description="delete_files: what was deleted")


async def cancel_job(args: Input, ctx: ToolContext) -> Output:
    if (args.job_id is None) == (args.labels is None):
        raise InvalidJobSpec("give either job_id (an id, or a list of ids) or labels (every unfinished job carrying "
                             "them), not both and not neither.", field="job_id")
    if not isinstance(args.job_id, str):
        if args.delete_files:
            raise InvalidJobSpec("delete_files deletes one ended job's files: give job_id as one id.",
                                 field="delete_files")
        return await _cancel_many(args, ctx)
    before = await ctx.backend.inspect(args.job_id)
    if args.delete_files:
        if not ctx.backend.traits.keeps_files:
            raise InvalidJobSpec(f"jobs on {ctx.backend.traits.place} keep no files here; nothing to delete.",
                                 field="delete_files")
        freed = delete_outputs(before)
        return Output(job_id=before.id, stage=before.stage, already_finished=True, deleted=True,
                      message=before.message if freed else "its files were already deleted", freed=freed)
    if before.finished:
        return Output(job_id=before.id, stage=before.stage, already_finished=True, message=before.message,
                      cost=cost_so_far(before, billed=ctx.backend.traits.billed))
    after = await ctx.backend.cancel(args.job_id)
    # It may have ended on its own between the two calls: then the cancel changed nothing either.
    ended_first = after.stage != JobStage.CANCELED and after.finished
    return Output(job_id=after.id, stage=after.stage, already_finished=ended_first, message=after.message,
                  cost=cost_so_far(after, billed=ctx.backend.traits.billed))


async def _targets(args: Input, ctx: ToolContext) -> list[JobInfo]:
    """The jobs named, each inspected before anything is cancelled (an unknown id changes nothing)."""
    if args.job_id is not None:
        return [await ctx.backend.inspect(job_id) for job_id in dict.fromkeys(args.job_id)]
    if len(args.labels or {}) > 20:
        raise InvalidJobSpec("at most 20 labels; the jobs to cancel carry all of them.", field="labels")
    found: list[JobInfo] = []
    cursor = None
    while True:
        page = await ctx.backend.list(stages={JobStage.SCHEDULING, JobStage.RUNNING}, labels=args.labels,
                                      limit=100, cursor=cursor)
        found += page.jobs
        if len(found) > MAX_JOBS:
            raise InvalidJobSpec(f"more than {MAX_JOBS} unfinished jobs carry these labels; add a label to narrow "
                                 "them, or call again after this batch.", field="labels")
        cursor = page.next_cursor
        if cursor is None:
            return found


async def _cancel_many(args: Input, ctx: ToolContext) -> Output:
    jobs = await _targets(args, ctx)
    out = Output(already_finished=False, ended=[job.id for job in jobs if job.finished])
    # Queued first, oldest queued first: a running job stopped first would hand its slot to the next queued one.
    active = sorted((job for job in jobs if not job.finished), key=lambda job: job.stage != JobStage.SCHEDULING)
    for job in active:
        after = await ctx.backend.cancel(job.id)
        (out.canceled if after.stage == JobStage.CANCELED or not after.finished else out.ended).append(after.id)
    return out


def render(out: Output) -> str:
    if out.job_id is None:
        return _render_many(out)
    cost = cost_line(out.cost)
    return f"{_render(out)} {cost}" if cost else _render(out)


def _render_many(out: Output) -> str:
    parts = [f"Canceled {len(out.canceled)} job(s)" + (f": {', '.join(out.canceled)}." if out.canceled else ".")]
    if out.ended:
        parts.append(f"{len(out.ended)} had already ended and were left as they were: {', '.join(out.ended)}.")
    parts.append("Call list_jobs to see them.")
    return " ".join(parts)


def _render(out: Output) -> str:
    if out.deleted and out.freed is None:
        return f"Job {out.job_id}'s files were already deleted; nothing changed. Its record stays."
    if out.freed is not None:
        kept = ", ".join(c.name for c in out.freed.checkpoints)
        return (f"Deleted the files of job {out.job_id}: {human_bytes(out.freed.bytes)} freed in {out.freed.folder}"
                + (f" (checkpoints {kept} and the model)" if kept else " (its model and outputs)")
                + f". Its record stays: {next_call('inspect_job', job_id=out.job_id).removeprefix('Call ')} still "
                  "shows what ran.")
    assert out.stage is not None
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
