"""launch_training's `sweep`: one launch per point of a small grid, sharing an experiment label.

Every run is planned (built and checked as its dry run would be) before any is submitted, so a grid with one bad
point creates nothing. The spending ceiling applies to the sum of the runs' ceilings on a billed backend. The runs
then go to the backend as any launch does: the local backend queues them for its slots; a remote one runs them side
by side.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..jobs.core.models import InvalidJobSpec, JobStage, parse_timeout
from ..jobs.recipes import TrainingRequest
from ..jobs.recipes.sweep import EXPERIMENT_LABEL, expand, new_experiment_id
from .base import ToolContext, next_call, usd
from .launching import priced_flavor


class SweepRun(BaseModel):
    arguments: dict[str, Any] = Field(description="the values this run sets (TRL names)")
    job_id: str | None = None
    stage: JobStage | None = None
    command: list[str]
    cost_ceiling_usd: float


class SweepInput(Protocol):
    sweep: dict[str, list[Any]] | None
    labels: dict[str, str]
    schedule: str | None
    flavor: str
    timeout: str | int
    dry_run: bool

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any: ...


def _total_problem(ctx: ToolContext, runs: int, each: float) -> str | None:
    limit = ctx.max_cost_usd
    if limit is None or not ctx.backend.traits.billed or runs * each <= limit:
        return None
    return (f"the sweep's {runs} runs may cost up to {usd(runs * each)} together ({usd(each)} each): over this "
            f"server's spending limit of {usd(limit)} (TRL_JOBS_MAX_COST_USD), which applies to their sum. Sweep "
            "fewer values, shorten the timeout, or pick a cheaper flavor.")


async def launch_sweep(args: SweepInput, ctx: ToolContext,
                       launch_one: Callable[[Any, ToolContext], Awaitable[Any]]) -> Any:
    """The sweep's answer: the first run's Output with `runs` (one per grid point), the experiment id, and the sum
    of the runs' cost ceilings."""
    if args.schedule:
        raise InvalidJobSpec("a sweep cannot be scheduled; drop schedule (or sweep).", field="sweep")
    assert args.sweep is not None
    points = expand(args, args.sweep)  # type: ignore[arg-type]
    experiment = args.labels.get(EXPERIMENT_LABEL) or new_experiment_id()
    flavor = await priced_flavor(ctx, args.flavor)
    each = round(flavor.cost(parse_timeout(args.timeout)), 4)
    over = _total_problem(ctx, len(points), each)
    if over and not args.dry_run:
        raise InvalidJobSpec(over, field="sweep")
    labels = {**args.labels, EXPERIMENT_LABEL: experiment}

    def run_args(request: TrainingRequest, dry_run: bool) -> Any:
        fields = {name: getattr(request, name) for name in TrainingRequest.model_fields}
        return args.model_copy(update={**fields, "sweep": None, "labels": labels, "dry_run": dry_run})

    planned = [await launch_one(run_args(request, True), ctx) for _, request in points]
    done = planned if args.dry_run else [await launch_one(run_args(request, False), ctx) for _, request in points]
    runs = [SweepRun(arguments=chosen, job_id=out.job_id, stage=out.stage, command=out.command,
                     cost_ceiling_usd=out.cost_ceiling_usd) for (chosen, _), out in zip(points, done, strict=True)]
    first = done[0]
    how = ("they queue for its slots and run as it frees them" if not ctx.backend.traits.billed
           else "they run side by side")
    notes = [f"Sweep {experiment}: {len(runs)} runs on the {ctx.backend.name} backend, labelled "
             f"{EXPERIMENT_LABEL}={experiment}; {how}.", *first.notes]
    if over:
        notes.append(f"A launch would be refused: {over}")
    return first.model_copy(update={"job_id": None, "stage": None, "experiment": experiment, "runs": runs,
                                    "labels": first.labels, "notes": notes,
                                    "cost_ceiling_usd": round(sum(r.cost_ceiling_usd for r in runs), 4)})


class SweepAnswer(Protocol):
    dry_run: bool
    experiment: str | None
    runs: list[SweepRun]
    flavor: str
    price_per_hour: float
    timeout: str
    cost_ceiling_usd: float
    notes: list[str]


def render_sweep(out: SweepAnswer, *, what: str) -> str:
    head = ("Dry run, nothing was created: a sweep of" if out.dry_run else f"Launched sweep {out.experiment}:")
    lines = [f"{head} {len(out.runs)} runs of {what}, flavor {out.flavor} ({usd(out.price_per_hour)}/h; at most "
             f"{usd(out.cost_ceiling_usd)} in all for {len(out.runs)} x the {out.timeout} timeout)."]
    for i, run in enumerate(out.runs, 1):
        values = ", ".join(f"{k}={v}" for k, v in run.arguments.items())
        job = f": job {run.job_id} ({run.stage.value if run.stage else '?'})" if run.job_id else ""
        lines.append(f"- run {i}, {values}{job}")
    lines.append("Command of run 1 (the others differ only in the values above): " + shlex.join(out.runs[0].command))
    lines += out.notes
    if out.dry_run:
        lines.append("Call launch_training with the same arguments and dry_run=false to start them.")
    else:
        last = out.runs[-1].job_id
        lines.append(f"{next_call('wait_for_job', job_id=last)} to follow the last run, then "
                     f"{next_call('compare_runs', runs=[out.experiment]).removeprefix('Call ')} to see which "
                     "did best.")
    return "\n".join(lines)

