"""compare_runs: runs side by side (job ids, or an experiment: the jobs that share its label), the best by a metric."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from mcp_types import ContentBlock, ToolAnnotations
from pydantic import Field, PrivateAttr, StrictBool, StringConstraints

from ..jobs.analysis.compare import Comparison, compare_jobs
from ..jobs.analysis.plot import render_png
from ..jobs.core.models import InvalidJobSpec, JobNotFoundError
from ..jobs.recipes.sweep import EXPERIMENT_LABEL, MAX_RUNS
from .base import ToolContext, ToolDef, ToolInput, human_duration, next_call, png_attachment, usd

MAX_LOG_PAGES = 50
_Id = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class Input(ToolInput):
    runs: Annotated[list[_Id], Field(min_length=1, max_length=MAX_RUNS,
                                     description="Job ids, or one experiment id.")]
    metric: Annotated[str | None, Field(max_length=99, description="Rank by; default eval_loss|loss.")] = None
    plot: Annotated[StrictBool, Field(description="PNG plot.")] = False


class Output(Comparison):
    experiment: str | None = None
    _png: bytes | None = PrivateAttr(default=None)


async def compare_runs(args: Input, ctx: ToolContext) -> Output:
    # One value is an experiment: a single job has nothing to be compared with.
    experiment = args.runs[0] if len(args.runs) == 1 else None
    if experiment is not None:
        jobs = (await ctx.backend.list(labels={EXPERIMENT_LABEL: experiment}, limit=MAX_RUNS)).jobs
        if not jobs:
            raise InvalidJobSpec(f"no job carries the label {EXPERIMENT_LABEL}={experiment}: give a sweep's "
                                 "experiment id, or two or more job ids (list_jobs shows both).", field="runs")
        jobs.reverse()  # oldest first: the order the sweep launched them
    else:
        jobs = []
        for job_id in dict.fromkeys(args.runs):
            try:
                jobs.append(await ctx.backend.inspect(job_id))
            except JobNotFoundError:
                raise InvalidJobSpec(f"no job has the id {job_id!r}: give two or more job ids, or one experiment id "
                                     "(list_jobs shows both).", field="runs") from None
    found = await compare_jobs(ctx.backend, jobs, metric=args.metric, max_pages=MAX_LOG_PAGES)
    out = Output(**found.model_dump(), experiment=experiment)
    if args.plot and found.series:
        title = f"{found.metric} by run"
        out._png = await anyio.to_thread.run_sync(lambda: render_png(found.series, title=title))
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(out: Output) -> str:
    what = f"experiment {out.experiment}" if out.experiment else "the runs"
    lines = [f"{len(out.runs)} runs of {what}" + (f", ranked by final {out.metric} ({'lower' if out.goal == 'min' else 'higher'} "
                                                   "is better):" if out.goal else ":")]
    for i, run in enumerate(out.runs, 1):
        differs = ", ".join(f"{k}={v}" for k, v in run.differs.items()) or "same arguments"
        steps = f"step {run.step}" + (f"/{run.total_steps}" if run.total_steps else "") if run.step is not None else ""
        if run.stopped_early:
            steps += " (stopped early)"
        figures = "; ".join(f"{name} final {_fmt(v.final)}" + (f", best {_fmt(v.best)}" if v.best is not None else "")
                            for name, v in run.metrics.items())
        parts = [f"run {i} {run.job_id}", differs, run.stage, steps,
                 human_duration(run.seconds) if run.seconds is not None else "",
                 usd(run.cost_usd) if run.cost_usd is not None else "", figures]
        lines.append("- " + " | ".join(p for p in parts if p))
    if out.best is not None:
        margin = f" by {out.margin:.4g} over the runner-up" if out.margin is not None else ""
        lines.append(f"Best by final {out.metric}: {out.best}{margin}.")
        lines.append(f"{next_call('rerun_job', job_id=out.best, resume=True, more_steps=100)} to continue it, or "
                     f"{next_call('inspect_job', job_id=out.best).removeprefix('Call ')} for where its model is.")
    else:
        lines.append(f"No run logged {out.metric or 'a metric'} yet; pass metric= to rank by another series, or "
                     "wait_for_job on a run still going.")
    if out._png is not None:
        lines.append(f"The image overlays {out.metric} of every run.")
    return "\n".join(lines)


def attachments(out: Output) -> list[ContentBlock]:
    return png_attachment(out._png)


TOOL = ToolDef(
    name="compare_runs",
    title="Compare runs",
    description="Runs side by side; the best by a metric.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=compare_runs,
    render=render,
    attachments=attachments,
)
