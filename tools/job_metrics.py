"""job_metrics: a job's logged curves (loss, learning rate, grad norm, eval loss, rewards) as numbers, a summary a
model can act on, and a PNG plot as MCP image content.

The series come from trackio's local store when the job reported to trackio and the store is on this machine, and
from TRL's log lines otherwise (always available, on every backend).
"""

from __future__ import annotations

from typing import Annotated, Literal

import anyio.to_thread
from mcp_types import ContentBlock, ToolAnnotations
from pydantic import BaseModel, Field, PrivateAttr, StrictBool

from ..jobs.analysis.metrics import Series, SeriesSummary
from ..jobs.analysis.metrics.job import job_report
from ..jobs.analysis.metrics.system import SystemSummary, summarize_system, system_series
from ..jobs.analysis.metrics.trainers import shown_series
from ..jobs.core.models import JobsError, JobStage
from ..jobs.analysis.plot import default_names, render_png
from ..jobs.recipes.readback import trainer_of
from .base import JobId, ToolContext, ToolDef, ToolInput, next_call, png_attachment

# A log this long (pages of at most a few thousand lines each) is read no further: the curves are long enough.
MAX_LOG_PAGES = 200
# An image sized for a chat: 432 px wide, 16 flat colours; tens of KB where full colour at 800 px was 150+ KB.
CHAT_IMAGE = {"width": 6.0, "dpi": 72, "panel_height": 2.0, "colors": 16}


class Input(ToolInput):
    job_id: JobId
    names: Annotated[list[Annotated[str, Field(max_length=200)]] | None, Field(
        max_length=30, description="Series to return and plot; default: the trainer's key ones.")] = None
    plot: Annotated[StrictBool, Field(description="Also return the curves as a PNG image.")] = True
    max_points: Annotated[int, Field(ge=10, le=5000, description="Per series (evenly spread).")] = 200
    source: Annotated[Literal["auto", "logs", "trackio"], Field(
        description="auto: trackio when local, else the log.")] = "auto"


class Output(BaseModel):
    job_id: str
    stage: JobStage
    source: Literal["logs", "trackio", "none"]
    summary: str = Field(description="the curves in one paragraph: progress, trend, NaN, divergence, plateau")
    main: str | None = Field(default=None, description="the series the verdict is about (usually 'loss')")
    last_step: int | None = None
    total_steps: int | None = None
    step_unit: Literal["step", "log"] = Field(
        default="step", description="'log' when steps count log lines because logging_steps is not known yet")
    has_nan: bool = False
    diverged: bool = False
    plateau: bool = Field(default=False, description="the main loss has flattened")
    final: dict[str, float] = Field(default_factory=dict, description="train_loss, train_runtime, ... once done")
    summaries: dict[str, SeriesSummary] = Field(default_factory=dict)
    series: dict[str, Series] = Field(default_factory=dict, description="the chosen series, downsampled")
    available: list[str] = Field(default_factory=list, description="every series the job logged")
    plotted: list[str] = Field(default_factory=list, description="the series drawn in the image")
    system: SystemSummary | None = Field(default=None, description="CPU, memory, GPU use and memory: means, peaks")
    notes: list[str] = Field(default_factory=list)
    trainer: str | None = Field(default=None, description="the TRL trainer; null for a command job (run_job)")
    lines_read: int | None = Field(default=None, description="log lines read for the curves")
    lines_parsed: int | None = Field(default=None, description="of them, lines that held metrics")
    _png: bytes | None = PrivateAttr(default=None)


async def job_metrics(args: Input, ctx: ToolContext) -> Output:
    info = await ctx.backend.inspect(args.job_id)
    trainer = trainer_of(info)
    report, notes = await job_report(ctx.backend, info, source=args.source, max_pages=MAX_LOG_PAGES)

    logged = bool(report.series)
    system = await ctx.backend.system_metrics(info.id)
    report.series.update(system_series(system))  # system/... curves, over seconds, plotted in panels of their own
    # What matters for the trainer leads; the machine's use (system/...) is shown beside it.
    shown = shown_series(report.series, trainer=trainer)
    wanted = args.names if args.names is not None else (
        [*shown, *(n for n in report.series if n.startswith("system/"))] if shown else default_names(report.series))
    missing = [name for name in wanted if name not in report.series]
    if missing and args.names is not None:
        notes.append(f"Not logged: {', '.join(missing)}. Logged: {', '.join(report.series) or 'nothing yet'}.")
    chosen = [name for name in wanted if name in report.series]
    out = Output(
        job_id=info.id, stage=info.stage, source=report.source if logged else "none", summary=report.text,
        main=report.main, last_step=report.last_step, total_steps=report.total_steps, step_unit=report.step_unit,
        has_nan=report.has_nan, diverged=report.diverged, plateau=report.plateau, final=report.final,
        summaries={name: report.summaries[name] for name in chosen if name in report.summaries},
        series={name: report.series[name].downsampled(args.max_points) for name in chosen},
        available=list(report.series), notes=notes, trainer=trainer,
        system=summarize_system(system, cheaper=await cheaper_flavor(ctx, info.flavor)),
        lines_read=report.lines_read, lines_parsed=report.lines_parsed)
    if args.plot and chosen:
        title = f"job {info.id} ({info.stage.value})"
        # matplotlib is CPU work of a second or so: keep it off the event loop.
        out._png = await anyio.to_thread.run_sync(lambda: render_png(report, names=chosen, title=title, **CHAT_IMAGE))
        out.plotted = chosen
    return out


async def cheaper_flavor(ctx: ToolContext, name: str | None) -> str | None:
    """The next cheaper GPU flavor this backend offers and can run, the only kind of smaller flavor worth naming."""
    try:
        flavors = await ctx.backend.hardware()
    except JobsError:
        return None
    current = next((f for f in flavors if f.name == name), None)
    if current is None:
        return None
    cheaper = [f for f in flavors if f.runnable and f.is_gpu and f.price_per_hour < current.price_per_hour]
    return max(cheaper, key=lambda f: f.price_per_hour).name if cheaper else None


def render(out: Output) -> str:
    read = (f" ({out.lines_read} lines read, {out.lines_parsed} with metrics)"
            if out.lines_read is not None and out.source != "trackio" else "")
    lines = [f"Job {out.job_id} ({out.stage.value}), from its {'trackio store' if out.source == 'trackio' else 'log'}"
             f"{read}: {out.summary}"]
    for name, summary in out.summaries.items():
        if name != out.main and not name.startswith("system/"):
            lines.append(f"- {summary.text}")
    if out.system is not None:
        lines.append(f"System: {out.system.text}")
    if out.plotted:
        lines.append(f"The image plots {', '.join(out.plotted)}.")
    others = [name for name in out.available if name not in out.series]
    if others:
        lines.append(f"Also logged (pass names= to get them): {', '.join(others)}.")
    lines += out.notes
    if out.stage in (JobStage.RUNNING, JobStage.SCHEDULING) and out.trainer is None:
        # A command job: no loss to wait on, and no training arguments to change.
        lines.append(f"{next_call('fetch_logs', job_id=out.job_id)} to read what the command prints, or "
                     f"{next_call('wait_for_job', job_id=out.job_id).removeprefix('Call ')} to follow it to the end.")
    elif out.stage in (JobStage.RUNNING, JobStage.SCHEDULING):
        if out.plateau:
            lines.append(f"{next_call('cancel_job', job_id=out.job_id)} to stop it now that the loss has flattened, "
                         f"or {next_call('wait_for_job', job_id=out.job_id).removeprefix('Call ')} to let it run.")
        else:
            lines.append(f"{next_call('wait_for_job', job_id=out.job_id, until='loss_plateau')} to be told when the "
                         "loss flattens, or call job_metrics again later.")
    elif out.stage == JobStage.ERROR:
        lines.append(f"{next_call('inspect_job', job_id=out.job_id)} for why it failed.")
    else:
        lines.append(f"{next_call('inspect_job', job_id=out.job_id)} for where its results are.")
    return "\n".join(lines)


def attachments(out: Output) -> list[ContentBlock]:
    return png_attachment(out._png)


TOOL = ToolDef(
    name="job_metrics",
    title="Training curves of a job",
    description="A training job's curves (what matters for its trainer first) and CPU/GPU use: numbers, a summary and a PNG plot.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=job_metrics,
    render=render,
    attachments=attachments,
)
