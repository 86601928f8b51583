"""recommend_hardware's budget answers: each fitting flavor's forecast for a dataset, which finish within
budget_usd, and a family's largest model within it (jobs.budget), shaped for the tool's answer."""

from __future__ import annotations

import math
from typing import Any

import anyio.to_thread

from ..jobs.analysis.budget import FamilyPick, family_sizes, largest_in_budget, member, plan_flavors
from ..jobs.analysis.calibration import CalibrationStore
from ..jobs.analysis.dataset_size import DatasetSize, dataset_size
from ..jobs.analysis.forecast import RunSettings
from ..jobs.core.models import InvalidJobSpec
from .base import ToolContext, usd


def _settings(args: Any, *, params: float, size: DatasetSize) -> RunSettings:
    return RunSettings(trainer="sft", params=params, method=args.method,
                       gradient_checkpointing=args.gradient_checkpointing, per_device_batch=args.batch_size,
                       epochs=args.num_train_epochs, max_steps=args.max_steps, max_length=args.max_length,
                       rows=size.rows, tokens_per_row=size.tokens_per_row)


async def _size(args: Any) -> DatasetSize:
    return await anyio.to_thread.run_sync(lambda: dataset_size(args.dataset or "<no dataset given>"))


def _store(ctx: ToolContext) -> CalibrationStore | None:
    return CalibrationStore(ctx.state_home) if ctx.state_home else None


async def budget_answer(args: Any, ctx: ToolContext) -> FamilyPick | None:
    """The family's largest model within the budget (any budget when none is given), or None without a family."""
    if not args.family:
        return None
    sizes, source = await anyio.to_thread.run_sync(lambda: family_sizes(args.family))
    size = await _size(args)
    flavors = await ctx.backend.hardware()
    return largest_in_budget(args.family, sizes, source, settings=_settings(args, params=1.0, size=size),
                             flavors=flavors, budget_usd=args.budget_usd or math.inf, store=_store(ctx))


def subject(pick: FamilyPick, family: str) -> dict[str, Any]:
    """The model the rest of the answer is about: the pick, else the family's smallest."""
    if pick.model:
        return {"model": pick.model, "params": pick.params}
    if not pick.sizes:
        raise InvalidJobSpec(f"no sizes known for {family!r} ({pick.sizes_source}); give model or params instead.",
                             field="family")
    size = pick.sizes[0]
    return {"model": member(family, size), "params": size}


async def with_forecasts(out: Any, args: Any, ctx: ToolContext, pick: FamilyPick | None, *, params: float,
                         shape: dict[str, Any], flavors: list[Any]) -> Any:
    """`out` with every fitting flavor's forecast when a dataset, budget or family was given."""
    out.family_pick = pick
    if not (args.dataset or args.budget_usd or args.family):
        return out
    size = await _size(args)
    out.dataset_note = size.note
    plans = plan_flavors(_settings(args, params=params, size=size), flavors=flavors, shape=shape, store=_store(ctx),
                         budget_usd=args.budget_usd)
    out.runs = plans[:args.limit]
    return out


def render_forecasts(out: Any) -> list[str]:
    """The forecast lines of recommend_hardware's text."""
    lines: list[str] = []
    pick = out.family_pick
    if pick is not None:
        if pick.model and pick.forecast:
            f = pick.forecast
            lines.append(f"Largest of the family within the budget: {pick.model} ({out.method}) on {pick.flavor}, "
                         f"{f.duration_text()}, {f.cost_text()} (sizes from {pick.sizes_source}).")
        else:
            lines.append(f"No size of the family fits the budget (sizes from {pick.sizes_source}).")
    if out.runs:
        lines.append(f"Forecast per flavor, cheapest first ({out.dataset_note}):")
        budget = ""
        for plan in out.runs:
            f = plan.forecast
            mark = ("" if plan.within_budget is None else " [over budget]" if not plan.within_budget
                    else " [within budget]" if plan.worst_within_budget else " [likely within budget; worst case over]")
            lines.append(f"- {plan.flavor}: {f.duration_text()}, {f.cost_text()}, {f.total_steps:,} steps, "
                         f"{plan.memory_gb:g} GB/GPU{' (' + f.calibrated + ')' if f.calibrated else ''}{mark}")
            budget = budget or (plan.flavor if plan.within_budget else "")
        lines.append("Basis: " + "; ".join(out.runs[0].forecast.basis) + ".")
        if any(p.within_budget is False for p in out.runs) and not budget:
            lines.append("No flavor finishes within the budget: fewer epochs or max_steps, lora/qlora, or a smaller "
                         "model; or raise budget_usd.")
        worst = out.runs[0].forecast.seconds_pessimistic
        lines.append(f"Pass a timeout above the pessimistic duration ({usd(out.runs[0].forecast.cost_pessimistic_usd)}"
                     f" at worst on {out.runs[0].flavor}), e.g. timeout='{math.ceil(worst * 1.2 / 3600)}h'.")
    return lines
