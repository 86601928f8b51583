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
from pydantic import BaseModel, Field, PrivateAttr

from ..jobs.analysis.cost import CostSoFar, cost_so_far
from ..jobs.analysis.diagnose import Diagnosis, diagnose_job
from ..jobs.analysis.forecast import eta_text
from ..jobs.analysis.logtidy import tidy_lines
from ..jobs.analysis.metrics.job import JobWatch
from ..jobs.analysis.metrics.logs import eta_seconds
from ..jobs.core.models import JobStage
from ..jobs.recipes.readback import ModelLocation, model_location
from .base import JobId, ToolContext, ToolDef, ToolInput, human_duration, next_call
from .inspect_job import cost_line, forecast_of
from .progress import ProgressPace

DEFAULT_WAIT = 50
MAX_WAIT = 600
# Pages of the log read per poll to catch up with a long log (each page is a backend's bounded read).
MAX_PAGES_PER_POLL = 50


class Input(ToolInput):
    job_id: JobId
    timeout: Annotated[int, Field(
        ge=1, le=MAX_WAIT, description="Seconds; call again to wait more.")] = DEFAULT_WAIT
    since: Annotated[int | None, Field(
        ge=0, description="A previous next_since: only the log after it.")] = None
    until: Annotated[Literal["finished", "loss_plateau"], Field(
        description="loss_plateau: also once the loss flattens.")] = "finished"
    max_lines: Annotated[int, Field(ge=1, le=500, description="Log lines to return (the last).")] = 40


class Output(BaseModel):
    job_id: str
    stage: JobStage
    finished: bool
    reason: Literal["finished", "loss_plateau", "timeout"] = Field(
        description="why the wait ended: the job finished, the loss flattened, or the bound was reached")
    waited_seconds: float
    message: str | None = None
    line_count: int = Field(description="log lines given in the text (the last max_lines after `since`, each "
                                        "progress bar at its last state, a repeated warning once)")
    next_since: int = Field(description="pass as since to get only later lines")
    truncated: bool = Field(description="more lines were written than returned")
    trainer: str | None = Field(default=None, description="the TRL trainer; null for a job that does not train")
    step: int | None = Field(default=None, description="the training step reached, from the newest log lines")
    total_steps: int | None = None
    loss: float | None = Field(default=None, description="the newest training loss")
    metrics: str | None = Field(default=None, description="the curves in one paragraph (as job_metrics says)")
    plateau: bool = False
    model: ModelLocation | None = Field(default=None, description="where the trained model is, once ended")
    cost: CostSoFar | None = Field(default=None, description="what the job has cost so far, on a billed backend")
    diagnosis: Diagnosis | None = Field(default=None, description="for a job in ERROR: the recognised cause and fix")
    eta_seconds: float | None = Field(default=None, description="time left at this run's measured step time")
    forecast: str | None = Field(default=None, description="the launch's forecast (and the actual, once ended)")
    # The log lines go in the text only: a host that shows both would otherwise show every line twice.
    _lines: list[str] = PrivateAttr(default_factory=list)
    _eta: str = PrivateAttr(default="")


async def wait_for_job(args: Input, ctx: ToolContext) -> Output:
    started = time.monotonic()
    info = await ctx.backend.inspect(args.job_id)
    watch = JobWatch(ctx.backend, info, pages_per_read=MAX_PAGES_PER_POLL)
    interval = ctx.backend.traits.poll_seconds
    pace = ProgressPace()
    reason: Literal["finished", "loss_plateau", "timeout"] = "timeout"
    with anyio.move_on_after(args.timeout):
        while True:
            info = await ctx.backend.inspect(args.job_id)
            await watch.read()
            text, _, _ = watch.progress(info.stage)
            if ctx.request is not None and pace.due(info.stage):
                # Progress must grow with every notification: the seconds waited do, whatever the job prints.
                await ctx.request.report_progress(round(time.monotonic() - started, 3), args.timeout,
                                                  ctx.secrets.redact(text))
            if info.finished:
                reason = "finished"
                break
            if args.until == "loss_plateau" and watch.report().plateau:
                reason = "loss_plateau"
                break
            await anyio.sleep(interval)
    await watch.read()  # what it wrote since the last poll: the answer is as fresh as the log
    report = watch.report()
    _, step, loss = watch.progress(info.stage)
    chunk = await ctx.backend.logs(args.job_id, tail=args.max_lines, since=args.since)
    lines = ctx.secrets.clip(tidy_lines(chunk.lines), args.max_lines)
    out = Output(job_id=info.id, stage=info.stage, finished=info.finished, reason=reason,
                 waited_seconds=round(time.monotonic() - started, 1), message=info.message,
                 line_count=len(lines), next_since=chunk.next_since, truncated=chunk.truncated,
                 trainer=watch.trainer, step=step, total_steps=report.total_steps, loss=loss,
                 metrics=report.text if report.series else None, plateau=report.plateau,
                 model=model_location(info, keeps_files=ctx.backend.traits.keeps_files) if info.finished else None,
                 cost=cost_so_far(info, billed=ctx.backend.traits.billed),
                 diagnosis=await diagnose_job(ctx.backend, info), forecast=await forecast_of(ctx, info))
    eta = eta_seconds(watch.parser) if info.stage == JobStage.RUNNING else None
    out.eta_seconds = round(eta[0], 1) if eta else None
    out._eta = eta_text(*eta) if eta else ""
    out._lines = lines
    return out


def render(out: Output) -> str:
    where = ""
    if out.step is not None:
        where = f"step {out.step}" + (f"/{out.total_steps}" if out.total_steps else "")
    if out.loss is not None:
        where += (", " if where else "") + f"loss {out.loss:.4g}"
    if out._eta:
        where += (", " if where else "") + out._eta
    where = f" ({where})" if where else ""
    waited = human_duration(out.waited_seconds)
    if out.reason == "finished":
        head = f"Job {out.job_id} is {out.stage.value}{where}" + (f": {out.message}" if out.message else "") + "."
    elif out.reason == "loss_plateau":
        head = f"The loss of job {out.job_id} has flattened{where}; the job is still {out.stage.value}."
    else:
        head = f"Job {out.job_id} is still {out.stage.value}{where} after waiting {waited}."
    lines = [head]
    if out.model is not None and out.model.text:
        lines.append(out.model.text)
    if cost := cost_line(out.cost):
        lines.append(cost)
    if out.forecast:
        lines.append(out.forecast)
    if out.metrics:
        lines.append(f"Metrics: {out.metrics}")
    if out.diagnosis is not None:
        lines.append(f"Likely cause: {out.diagnosis.text}")
    lines.append("Log" + (" (the last lines)" if out.truncated else "") + ":")
    lines += out._lines or ["(no new lines)"]
    metrics = f"{next_call('job_metrics', job_id=out.job_id)} for the curves and a plot" if out.trainer else None
    if out.reason == "timeout":
        lines.append(f"{next_call('wait_for_job', job_id=out.job_id, since=out.next_since)} to keep waiting"
                     + (f", or {metrics.removeprefix('Call ')} so far." if metrics else "."))
    elif out.reason == "loss_plateau":
        lines.append(f"{next_call('cancel_job', job_id=out.job_id)} to stop it here, or "
                     f"{next_call('wait_for_job', job_id=out.job_id, since=out.next_since).removeprefix('Call ')} "
                     "to let it run on.")
    elif out.stage == JobStage.COMPLETED:
        lines.append(f"{metrics}." if metrics else
                     f"{next_call('fetch_logs', job_id=out.job_id, tail=100)} for more of its log.")
    elif out.stage == JobStage.ERROR:
        lines.append(f"{next_call('fetch_logs', job_id=out.job_id, tail=100)} for more of the log, or "
                     f"{next_call('inspect_job', job_id=out.job_id).removeprefix('Call ')} for the details.")
    else:
        lines.append(f"{next_call('list_jobs')} to see the others.")
    return "\n".join(lines)


TOOL = ToolDef(
    name="wait_for_job",
    title="Wait for a training job",
    description="Wait up to timeout seconds for a job to end; returns stage, step, ETA, curves, new log, model, "
                "cost, a failure's cause.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=wait_for_job,
    render=render,
)
