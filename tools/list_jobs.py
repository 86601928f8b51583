"""list_jobs: the jobs this backend knows, newest first, filtered by stage and labels, a page at a time."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, field_validator

from ..jobs.analysis.cost import spend, started_today
from ..jobs.core.models import JobInfo, JobStage
from ..jobs.extras.outputs import folder_bytes, headline_of, human_bytes, job_folder
from .base import ToolContext, ToolDef, ToolInput, human_duration, next_call, seconds_since, usd


class Input(ToolInput):
    stage: Annotated[JobStage | list[JobStage] | None, Field(
        description="One stage or a list.")] = None
    labels: Annotated[dict[str, str] | None, Field(
        max_length=20, description="Jobs carrying all of these, e.g. {'trainer': 'sft'}.")] = None
    limit: Annotated[int, Field(ge=1, le=200, description="Jobs per page.")] = 20
    cursor: Annotated[str | None, Field(
        max_length=500, description="A previous answer's next_cursor.")] = None

    @field_validator("stage", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip().upper()
        if isinstance(value, list):
            return [v.strip().upper() if isinstance(v, str) else v for v in value]
        return value


class Output(BaseModel):
    jobs: list[JobInfo] = Field(description="newest first")
    next_cursor: str | None = Field(default=None, description="pass as cursor for the next page; null at the end")
    filtered: bool = Field(default=False, description="whether a stage or label filter was applied")
    running: int = Field(default=0, description="jobs RUNNING now, whatever the filter")
    scheduling: int = Field(default=0, description="jobs waiting to start now, whatever the filter")
    cost_usd: float | None = Field(default=None, description="billed backends: what the listed jobs cost so far")
    cost_today_usd: float | None = Field(default=None, description="billed backends: all jobs created today (UTC)")
    spend_note: str | None = None
    headline: dict[str, str] = Field(default={}, description="job id -> a finished run's headline metric")
    disk_bytes: int | None = Field(default=None, description="the listed jobs' output folders on this machine")


async def list_jobs(args: Input, ctx: ToolContext) -> Output:
    stages = None
    if args.stage is not None:
        stages = set(args.stage) if isinstance(args.stage, list) else {args.stage}
    page = await ctx.backend.list(stages=stages, labels=args.labels or None, limit=args.limit, cursor=args.cursor)
    active = [j for j in page.jobs if not j.finished]
    if stages or args.labels or page.next_cursor or args.cursor:  # the page may not hold every active job
        active = (await ctx.backend.list(stages={JobStage.RUNNING, JobStage.SCHEDULING}, limit=200)).jobs
    keeps = ctx.backend.traits.keeps_files
    folders = [f for j in page.jobs if (f := job_folder(j))] if keeps else []
    disk = await anyio.to_thread.run_sync(lambda: sum(folder_bytes(f) for f in folders)) if keeps else None
    out = Output(jobs=page.jobs, next_cursor=page.next_cursor, filtered=bool(stages or args.labels),
                 running=sum(j.stage == JobStage.RUNNING for j in active),
                 scheduling=sum(j.stage == JobStage.SCHEDULING for j in active),
                 headline={j.id: h for j in page.jobs if keeps and (h := headline_of(j))}, disk_bytes=disk)
    return await with_spend(out, ctx) if ctx.backend.traits.billed else out


async def with_spend(out: Output, ctx: ToolContext) -> Output:
    """`out` with what its jobs cost and what today's cost, at the backend's prices, as billed by the minute."""
    prices = {flavor.name: flavor for flavor in await ctx.backend.hardware()}
    listed = spend(out.jobs, prices=prices)
    recent = await ctx.backend.list(limit=200)
    today = spend([job for job in recent.jobs if started_today(job)], prices=prices)
    more = " at least" if recent.next_cursor and started_today(recent.jobs[-1]) else ""
    growing = f", {today.running} still running" if today.running else ""
    return out.model_copy(update={
        "cost_usd": listed.usd, "cost_today_usd": today.usd,
        "spend_note": (f"Cost: {usd(listed.usd)} for the {listed.jobs} job(s) listed; today (UTC){more} "
                       f"{usd(today.usd)} for {today.jobs} job(s){growing}, billed by the started minute.")})


def _now(out: Output) -> str:
    if not out.running and not out.scheduling:
        return "No job is running now."
    waiting = f" and {out.scheduling} waiting to start" if out.scheduling else ""
    return f"{out.running} job(s) running now{waiting}."


def _line(job: JobInfo, headline: str | None = None) -> str:
    age = f"created {human_duration(seconds_since(job.created_at))} ago" if job.created_at else ""
    labels = " ".join(f"{k}={v}" for k, v in job.labels.items())
    parts = [job.id, job.stage.value, headline or "", job.flavor or "", age, labels]
    line = "- " + "  ".join(p for p in parts if p)
    if job.message and job.stage in (JobStage.ERROR, JobStage.CANCELED):
        line += f"  ({job.message.splitlines()[0][:200]})"
    return line


def render(out: Output) -> str:
    if not out.jobs:
        if out.filtered:
            return f"No jobs match these filters. {_now(out)} Call list_jobs without stage or labels to see every job."
        return "No jobs yet. Call launch_training to start one (dry_run=true first shows what would run)."
    disk = f" (their outputs take {human_bytes(out.disk_bytes)} on disk)" if out.disk_bytes else ""
    lines = [f"{_now(out)} {len(out.jobs)} job(s) listed{disk}, newest first:"]
    lines += [_line(job, out.headline.get(job.id)) for job in out.jobs]
    if out.spend_note:
        lines.append(out.spend_note)
    active = next((j for j in out.jobs if j.stage in (JobStage.RUNNING, JobStage.SCHEDULING)), None)
    if active is not None:
        lines.append(f"{next_call('wait_for_job', job_id=active.id)} to follow the newest active job, or "
                     f"{next_call('cancel_job', job_id=active.id).removeprefix('Call ')} to stop it.")
    else:
        lines.append(f"{next_call('inspect_job', job_id=out.jobs[0].id)} for details of a job.")
    if out.next_cursor:
        lines.append(f"More jobs: {next_call('list_jobs', cursor=out.next_cursor)}.")
    return "\n".join(lines)


TOOL = ToolDef(
    name="list_jobs",
    title="List training jobs",
    description="Jobs newest first, how many run, their disk and cost; filter by stage and labels, page with cursor.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=list_jobs,
    render=render,
)
