"""scheduled_jobs: list, inspect, suspend, resume, trigger or delete scheduled jobs, as `hf jobs scheduled` does.

Scheduled jobs are created by launch_training or run_job with `schedule`. One tool with an action, because the six
calls share one object and one answer; its annotations are the most cautious of them (delete is destructive).
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StringConstraints, model_validator

from ..jobs.core.models import InvalidJobSpec, JobStage
from ..jobs.extras.schedules import ScheduledJob
from .base import ToolContext, ToolDef, ToolInput, next_call

MAX_LISTED = 100


class Input(ToolInput):
    action: Annotated[Literal["list", "inspect", "suspend", "resume", "trigger", "delete"], Field(
        description="list, or for one scheduled_job_id: the others.")] = "list"
    scheduled_job_id: Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                                Field(description="Required except for list.")] = None
    labels: Annotated[dict[str, str], Field(max_length=8, description="list: only those with these labels.")] = {}

    @model_validator(mode="after")
    def _needs_id(self) -> Input:
        if self.action != "list" and not self.scheduled_job_id:
            raise InvalidJobSpec(f"action {self.action!r} needs scheduled_job_id; call with action='list' to see "
                                 "them.", field="scheduled_job_id")
        return self


class Output(BaseModel):
    action: str
    backend: str
    scheduled_jobs: list[ScheduledJob] = Field(default=[], description="list: newest first, at most 100; else the "
                                                                        "one acted on (empty once deleted)")
    more: int = Field(default=0, description="list: how many were left out")
    deleted: bool = False
    job_id: str | None = Field(default=None, description="trigger: the job of the run it started")
    job_stage: JobStage | None = None


async def scheduled_jobs(args: Input, ctx: ToolContext) -> Output:
    backend, ref = ctx.backend, args.scheduled_job_id or ""
    out = Output(action=args.action, backend=ctx.backend.name)
    if args.action == "list":
        found = await backend.list_scheduled(labels=args.labels or None)
        found.sort(key=lambda item: item.created_at.timestamp() if item.created_at else 0, reverse=True)
        out.scheduled_jobs, out.more = found[:MAX_LISTED], max(0, len(found) - MAX_LISTED)
    elif args.action == "inspect":
        out.scheduled_jobs = [await backend.inspect_scheduled(ref)]
    elif args.action == "trigger":
        info = await backend.trigger_scheduled(ref)
        out.job_id, out.job_stage = info.id, info.stage
        out.scheduled_jobs = [await backend.inspect_scheduled(ref)]
    else:
        after = await backend.change_scheduled(ref, action=args.action)
        out.deleted = after is None
        out.scheduled_jobs = [after] if after else []
    return out


def _line(item: ScheduledJob) -> str:
    state = "suspended" if item.suspended else f"next run {item.next_run_at or '?'}"
    last = f", last job {item.last_job_id}" if item.last_job_id else ""
    return f"- {item.id}: {item.schedule} on {item.flavor or '?'}, {state}{last}: {' '.join(item.command)[:120]}"


def render(out: Output) -> str:
    if out.action == "list":
        if not out.scheduled_jobs:
            return ("No scheduled jobs. launch_training or run_job with schedule='@daily' (or cron) creates one.")
        lines = [f"{len(out.scheduled_jobs)} scheduled job(s):"] + [_line(item) for item in out.scheduled_jobs]
        if out.more:
            lines.append(f"{out.more} more not shown: filter with labels.")
        lines.append("Call scheduled_jobs with action='inspect' (or suspend, resume, trigger, delete) and a "
                     "scheduled_job_id.")
        return "\n".join(lines)
    if out.deleted:
        return ("Scheduled job deleted: no further runs. Jobs it already started are unaffected; list_jobs shows "
                "them.")
    item = out.scheduled_jobs[0]
    lines = [_line(item).removeprefix("- ")]
    if out.action == "trigger":
        lines.insert(0, f"Triggered one run now: job {out.job_id} ({out.job_stage.value if out.job_stage else '?'}); "
                        "the schedule is unchanged.")
        lines.append(f"{next_call('fetch_logs', job_id=out.job_id)} to follow it.")
    elif out.action in ("suspend", "resume"):
        lines.insert(0, f"Scheduled job {item.id} is {'suspended' if item.suspended else 'active again'}.")
    else:
        lines.append(next_call("scheduled_jobs", action="trigger", scheduled_job_id=item.id)
                     + " to run it now, or action='suspend' to pause it.")
    return "\n".join(lines)


TOOL = ToolDef(
    name="scheduled_jobs",
    title="Manage scheduled jobs",
    description="List scheduled jobs (launches with schedule), or inspect, suspend, resume, trigger or delete one.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                                open_world_hint=True),
    run=scheduled_jobs,
    render=render,
)
