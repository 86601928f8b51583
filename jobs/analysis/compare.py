"""Runs side by side: what differs between their commands, how far each got, the final and best value of the
metrics that matter for the trainer, and the best run by one metric.

An experiment is the set of jobs that share an experiment label (recipes/sweep.py); this reads the jobs and their
logs, and stores nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..recipes.argv import find_option
from ..recipes.outcome import read_outcome
from ..recipes.readback import trainer_of
from .cost import cost_so_far
from .metrics.job import job_report
from .metrics.models import Series
from .metrics.trainers import goal_of

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..core.models import JobInfo

# Options that differ between any two runs without saying anything about them.
_NOISE = {"output_dir", "run_name", "resume_from_checkpoint", "dataset_name", "model_name_or_path"}


class MetricValues(BaseModel):
    final: float | None = Field(default=None, description="the last logged value")
    best: float | None = Field(default=None, description="the lowest (a loss) or highest (a reward) logged value")


class RunRow(BaseModel):
    job_id: str
    stage: str
    differs: dict[str, str] = Field(description="the arguments whose values differ between the runs")
    step: int | None = None
    total_steps: int | None = None
    seconds: float | None = Field(default=None, description="how long it ran")
    cost_usd: float | None = None
    stopped_early: bool = False
    metrics: dict[str, MetricValues] = {}


class Comparison(BaseModel):
    runs: list[RunRow]
    metrics: list[str] = Field(description="the metrics compared, the ranking one first")
    metric: str | None = Field(default=None, description="the metric the runs are ranked by (final value)")
    goal: str | None = Field(default=None, description="min or max")
    best: str | None = Field(default=None, description="the best run's job id")
    margin: float | None = Field(default=None, description="how much better than the runner-up, in the metric")
    series: dict[str, Series] = Field(default={}, description="the ranking metric of each run, for a plot")


def command_options(argv: Sequence[str]) -> dict[str, str]:
    """`--name=value` and `--name value` options of a command, by name (a bare switch reads 'true')."""
    out: dict[str, str] = {}
    for i, word in enumerate(argv):
        if not word.startswith("--"):
            continue
        name = word[2:].split("=", 1)[0].replace("-", "_")
        found = find_option(argv[: i + 2], name)
        value = found[1] if found and found[0] in (i, i + 1) else "true"
        out[name] = "true" if value.startswith("--") else value
    return out


def _differs(commands: list[dict[str, str]]) -> list[str]:
    names = sorted({n for c in commands for n in c} - _NOISE)
    return [n for n in names if len({c.get(n, "(default)") for c in commands}) > 1]


def _values(series: Series | None, goal: str | None) -> MetricValues:
    finite = [v for v in (series.values if series else []) if v is not None and math.isfinite(v)]
    if not finite:
        return MetricValues()
    best = (max if goal == "max" else min)(finite) if goal else None
    return MetricValues(final=finite[-1], best=best)


async def compare_jobs(backend: Backend, jobs: list[JobInfo], *, metric: str | None = None,
                       max_pages: int = 50) -> Comparison:
    """The jobs side by side, ranked by `metric` (default: eval_loss where the runs evaluate, else the lead series
    of their trainer). Each job's metrics come from its log (or trackio store), as job_metrics reads them."""
    reports = [(await job_report(backend, job, max_pages=max_pages))[0] for job in jobs]
    commands = [command_options(job.command) for job in jobs]
    differs = _differs(commands)
    logged = [name for report in reports for name in report.series]
    if metric is None:
        metric = "eval_loss" if "eval_loss" in logged else next((r.main for r in reports if r.main), None)
    trainer = next((t for t in (trainer_of(job) for job in jobs) if t), None)
    keys = [m for m in dict.fromkeys([metric, "loss", "eval_loss", *(r.main for r in reports)]) if m and m in logged]
    rows: list[RunRow] = []
    plotted: dict[str, Series] = {}
    for index, (job, report, options) in enumerate(zip(jobs, reports, commands, strict=True), 1):
        outcome = read_outcome(job.output_dir) if backend.traits.keeps_files else None
        seconds = ((job.finished_at or job.started_at) - job.started_at).total_seconds() \
            if job.started_at and job.finished_at else None
        cost = cost_so_far(job, billed=backend.traits.billed)
        rows.append(RunRow(
            job_id=job.id, stage=job.stage.value, differs={n: options.get(n, "(default)") for n in differs},
            step=outcome.global_step if outcome else report.last_step, total_steps=report.total_steps,
            seconds=round(seconds, 1) if seconds is not None else None, cost_usd=cost.usd if cost else None,
            stopped_early=bool(outcome and outcome.stopped_early),
            metrics={k: _values(report.series.get(k), goal_of(k, trainer=trainer)) for k in keys}))
        if metric in report.series:
            plotted[f"run {index}: {metric}"] = report.series[metric]
    goal = goal_of(metric, trainer=trainer) if metric else None
    ranked = [r for r in rows if metric in r.metrics and r.metrics[metric].final is not None]
    best, margin = None, None
    if goal and ranked:
        ranked.sort(key=lambda r: r.metrics[metric].final, reverse=goal == "max")  # type: ignore[arg-type,index,return-value]
        best = ranked[0].job_id
        if len(ranked) > 1:
            margin = abs(ranked[0].metrics[metric].final - ranked[1].metrics[metric].final)  # type: ignore[index,operator]
    return Comparison(runs=rows, metrics=keys, metric=metric, goal=goal, best=best, margin=margin, series=plotted)
