"""wait_for_job: block up to a bound while a job runs, reporting progress, then answer its stage and new log lines.

The default bound stays under a minute so that clients with a 60 s request limit are safe; a longer wait is a second
call with `since`. While waiting, an MCP progress notification goes out at every poll (the step, the latest loss and
the stage in its message): clients show it, and those that reset their timeout on progress keep the call alive.
`until="loss_plateau"` returns as soon as the training loss has flattened ("tell me when the loss flattens").
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import anyio
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from trl_jobs_mcp.jobs.diagnose import Diagnosis, diagnose_job
from trl_jobs_mcp.jobs.metrics.job import JobWatch
from trl_jobs_mcp.jobs.models import JobStage
from trl_jobs_mcp.tools.base import JobId, ToolContext, ToolDef, ToolInput, human_duration, next_call

DEFAULT_WAIT = 50
MAX_WAIT = 600
# Pages of the log read per poll to catch up with a long log (each page is a backend's bounded read).
MAX_PAGES_PER_POLL = 50


class Input(ToolInput):
    job_id: JobId
    timeout: Annotated[int, Field(
        ge=1, le=MAX_WAIT, description=f"Wait at most this many seconds (default {DEFAULT_WAIT}, under the 60 s "
                                       "many clients allow a call). Call again to keep waiting.")] = DEFAULT_WAIT
    since: Annotated[int | None, Field(
        ge=0, description="Return only the log lines after this offset (the next_since of the previous answer); "
                          "default: the last max_lines lines of the log.")] = None
    until: Annotated[Literal["finished", "loss_plateau"], Field(
        description="'finished': return when the job ends; 'loss_plateau': also return as soon as the training "
                    "loss has flattened.")] = "finished"
    max_lines: Annotated[int, Field(ge=1, le=500, description="Return at most this many log lines (the last "
                                                               "ones).")] = 40


class Output(BaseModel):
    job_id: str
    stage: JobStage
    finished: bool
    reason: Literal["finished", "loss_plateau", "timeout"] = Field(
        description="why the wait ended: the job finished, the loss flattened, or the bound was reached")
    waited_seconds: float
    message: str | None = None
    lines: list[str] = Field(description="the last max_lines log lines after `since`")
    next_since: int = Field(description="pass as since to get only later lines")
    truncated: bool = Field(description="more lines were written than returned")
    step: int | None = Field(default=None, description="the training step reached, when the log shows it")
    total_steps: int | None = None
    loss: float | None = Field(default=None, description="the latest training loss")
    metrics: str | None = Field(default=None, description="the loss curve in one paragraph (as job_metrics says)")
    plateau: bool = False
    diagnosis: Diagnosis | None = Field(default=None, description="for a job in ERROR: the recognised cause and fix")


async def wait_for_job(args: Input, ctx: ToolContext) -> Output:
    started = time.monotonic()
    info = await ctx.backend.inspect(args.job_id)
    watch = JobWatch(ctx.backend, info, pages_per_read=MAX_PAGES_PER_POLL)
    interval = ctx.backend.traits.poll_seconds
    reason: Literal["finished", "loss_plateau", "timeout"] = "timeout"
    with anyio.move_on_after(args.timeout):
        while True:
            info = await ctx.backend.inspect(args.job_id)
            await watch.read()
            text, _, _ = watch.progress(info.stage)
            if ctx.request is not None:
                # Progress must grow with every notification: the seconds waited do, whatever the job prints.
                await ctx.request.report_progress(round(time.monotonic() - started, 3), args.timeout,
                                                  ctx.secrets.redact(text))
            if info.finished:
                reason = "finished"
                break
            if args.until == "loss_plateau" and watch.parser.report().plateau:
                reason = "loss_plateau"
                break
            await anyio.sleep(interval)
    if reason == "finished":
        await watch.read()  # what it wrote after the poll that saw it end
    report = watch.parser.report()
    _, step, loss = watch.progress(info.stage)
    chunk = await ctx.backend.logs(args.job_id, tail=args.max_lines, since=args.since)
    return Output(job_id=info.id, stage=info.stage, finished=info.finished, reason=reason,
                  waited_seconds=round(time.monotonic() - started, 1), message=info.message,
                  lines=ctx.secrets.clip(chunk.lines, args.max_lines), next_since=chunk.next_since,
                  truncated=chunk.truncated,
                  step=step, total_steps=report.total_steps, loss=loss,
                  metrics=report.text if report.series else None, plateau=report.plateau,
                  diagnosis=await diagnose_job(ctx.backend, info))


def render(out: Output) -> str:
    where = ""
    if out.step is not None:
        where = f"step {out.step}" + (f"/{out.total_steps}" if out.total_steps else "")
    if out.loss is not None:
        where += (", " if where else "") + f"loss {out.loss:.4g}"
    where = f" ({where})" if where else ""
    waited = human_duration(out.waited_seconds)
    if out.reason == "finished":
        head = f"Job {out.job_id} is {out.stage.value}{where}" + (f": {out.message}" if out.message else "") + "."
    elif out.reason == "loss_plateau":
        head = f"The loss of job {out.job_id} has flattened{where}; the job is still {out.stage.value}."
    else:
        head = f"Job {out.job_id} is still {out.stage.value}{where} after waiting {waited}."
    lines = [head]
    if out.metrics:
        lines.append(f"Metrics: {out.metrics}")
    if out.diagnosis is not None:
        lines.append(f"Likely cause: {out.diagnosis.text}")
    lines.append("Log" + (" (the last lines)" if out.truncated else "") + ":")
    lines += out.lines or ["(no new lines)"]
    if out.reason == "timeout":
        lines.append(f"{next_call('wait_for_job', job_id=out.job_id, since=out.next_since)} to keep waiting, or "
                     f"{next_call('job_metrics', job_id=out.job_id).removeprefix('Call ')} for the curves so far.")
    elif out.reason == "loss_plateau":
        lines.append(f"{next_call('cancel_job', job_id=out.job_id)} to stop it here, or "
                     f"{next_call('wait_for_job', job_id=out.job_id, since=out.next_since).removeprefix('Call ')} "
                     "to let it run on.")
    elif out.stage == JobStage.COMPLETED:
        lines.append(f"{next_call('job_metrics', job_id=out.job_id)} for the loss curve and a plot, or "
                     f"{next_call('inspect_job', job_id=out.job_id).removeprefix('Call ')} for where the model is.")
    elif out.stage == JobStage.ERROR:
        lines.append(f"{next_call('inspect_job', job_id=out.job_id)} for the details, or fetch_logs with "
                     f"job_id={out.job_id} tail=100 for more of the log.")
    else:
        lines.append(f"{next_call('inspect_job', job_id=out.job_id)} for its details.")
    return "\n".join(lines)


TOOL = ToolDef(
    name="wait_for_job",
    title="Wait for a training job",
    description=f"Wait up to timeout seconds (default {DEFAULT_WAIT}) for a job to finish, sending progress "
                "notifications with the step and the latest loss while it runs; until='loss_plateau' returns as "
                "soon as the loss flattens. Returns the stage, the new log lines (pass next_since as since next "
                "time), the loss curve in a sentence, and for a failed job the likely cause and fix.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=wait_for_job,
    render=render,
)
