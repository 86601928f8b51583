"""fetch_logs: a bounded piece of a job's log: the last lines, or the lines after an offset, secrets scrubbed."""

from __future__ import annotations

from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from ..jobs.analysis.logtidy import tidy_lines
from .base import JobId, ToolContext, ToolDef, ToolInput, next_call

DEFAULT_TAIL = 100
MAX_LINES = 2000


class Input(ToolInput):
    job_id: JobId
    tail: Annotated[int | None, Field(
        ge=1, le=MAX_LINES,
        description=f"The last N lines; default {DEFAULT_TAIL} without since.")] = None
    since: Annotated[int | None, Field(
        ge=0, description="A previous next_since: only the lines after it. 0: from the start.")] = None
    tidy: Annotated[StrictBool, Field(description="Collapse progress bars and repeated warnings.")] = False


class Output(BaseModel):
    job_id: str
    lines: list[str]
    next_since: int = Field(description="pass as since to read only the lines written after these")
    finished: bool = Field(description="true when the job has ended and these are its last lines")
    truncated: bool = Field(default=False, description="more lines were available than were returned")


async def fetch_logs(args: Input, ctx: ToolContext) -> Output:
    tail = args.tail if args.tail is not None or args.since is not None else DEFAULT_TAIL
    chunk = await ctx.backend.logs(args.job_id, tail=tail, since=args.since)
    lines = tidy_lines(chunk.lines) if args.tidy else chunk.lines
    return Output(job_id=args.job_id, lines=ctx.secrets.clip(lines, MAX_LINES),
                  next_since=chunk.next_since,
                  finished=chunk.finished, truncated=chunk.truncated or len(chunk.lines) > MAX_LINES)


def render(out: Output) -> str:
    body = "\n".join(out.lines) if out.lines else "(no new lines)"
    if out.finished:
        footer = (f"[{len(out.lines)} line(s); the job has finished and this is the end of its log] "
                  f"{next_call('inspect_job', job_id=out.job_id)} for its final stage and results.")
    elif out.truncated:
        footer = (f"[{len(out.lines)} line(s); more were written than returned] "
                  f"{next_call('fetch_logs', job_id=out.job_id, since=out.next_since)} for the lines after these.")
    else:
        footer = (f"[{len(out.lines)} line(s); the job is still running] "
                  f"{next_call('fetch_logs', job_id=out.job_id, since=out.next_since)} for new lines.")
    return f"{body}\n{footer}"


TOOL = ToolDef(
    name="fetch_logs",
    title="Fetch a job's log",
    description=f"A job's raw log: the last {DEFAULT_TAIL} lines or those after since; returns next_since and "
                "finished. Secrets scrubbed.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=fetch_logs,
    render=render,
)
