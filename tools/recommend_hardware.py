"""recommend_hardware: the memory a fine-tune needs and the cheapest flavors that hold it, with the timeout's cost.

The parameter count comes from jobs.model_size (as given, config.json, the backend's look-up, the local cache, the
model's name); the estimate itself is jobs.estimate's documented accounting.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from ..jobs.analysis.estimate import (METHODS, SAFETY_MARGIN, MemoryEstimate, Method, estimate_memory, format_count,
                                        recommend)
from ..jobs.analysis.model_size import ParamsSource, find_parameter_count
from ..jobs.core.models import format_duration, parse_timeout
from ..jobs.analysis.budget import FamilyPick, FlavorPlan
from .base import ToolContext, ToolDef, ToolInput, next_call, usd
from .budgeting import budget_answer, render_forecasts, subject, with_forecasts


class Input(ToolInput):
    model: Annotated[str | None, Field(
        max_length=500, description="Hub id or local model folder; its size is looked up (or give params).")] = None
    params: Annotated[float | str | None, Field(
        description="Parameter count: 7e9 or '7B'.")] = None
    method: Annotated[Literal["full", "lora", "qlora"], Field(
        description="full; lora (use_peft); qlora (use_peft, load_in_4bit).")] = "lora"
    max_length: Annotated[int, Field(ge=1, le=1_048_576, description="Tokens per training example.")] = 1024
    batch_size: Annotated[int, Field(ge=1, le=65536, description="per_device_train_batch_size.")] = 1
    gradient_checkpointing: Annotated[StrictBool, Field(
        description="TRL's default for SFT.")] = True
    lora_r: Annotated[int, Field(ge=1, le=4096, description="LoRA rank (lora, qlora).")] = 16
    timeout: Annotated[str | int, Field(
        description="Run length to price, e.g. '2h'.")] = "1h"
    limit: Annotated[int, Field(ge=1, le=30, description="Flavors to return, cheapest first.")] = 5
    dataset: Annotated[str | None, Field(max_length=1000, description="For time, cost.")] = None
    num_train_epochs: Annotated[float, Field(gt=0, le=10000, description="Epochs.")] = 1.0
    max_steps: Annotated[int | None, Field(ge=1, le=10_000_000, description="Or steps.")] = None
    budget_usd: Annotated[float | None, Field(gt=0, description="Flavors within it.")] = None
    family: Annotated[str | None, Field(
        max_length=200, description="e.g. 'Qwen/Qwen2.5': its largest.")] = None


class Choice(BaseModel):
    flavor: str
    gpu: str | None
    gpu_count: int
    vram_gb: float
    ram_gb: float
    price_per_hour: float
    cost_usd: float = Field(description="price_per_hour x timeout")
    runnable: bool | None = Field(description="whether the current backend can run it")
    needs_sharding: bool = Field(description="the estimate exceeds one GPU: the model must be sharded (FSDP, "
                                             "DeepSpeed ZeRO-3)")


class MethodSummary(BaseModel):
    total_gb: float
    cheapest: str | None = Field(description="the cheapest flavor that fits; null when none does")
    cost_usd: float | None = None
    needs_sharding: bool = Field(default=False, description="the cheapest fit holds it only across its GPUs")


class Output(BaseModel):
    model: str | None
    params: float
    params_source: ParamsSource
    method: Method
    estimate: MemoryEstimate
    timeout: str
    timeout_seconds: float
    backend: str
    flavors: list[Choice] = Field(description="flavors that fit, cheapest first")
    by_method: dict[str, MethodSummary] = Field(description="the same question for full, lora and qlora")
    lookup: str | None = Field(default=None, description="why the parameter count is not the Hub's or a "
                                                         "config.json's: what failed, and what was assumed")
    notes: list[str] = []
    runs: list[FlavorPlan] = Field(default=[], description="with a dataset or budget: each fitting flavor's forecast")
    family_pick: FamilyPick | None = None
    dataset: str | None = None
    dataset_note: str | None = None
    batch_size: int = 1
    max_length: int = 1024


async def recommend_hardware(args: Input, ctx: ToolContext) -> Output:
    timeout = parse_timeout(args.timeout)
    budget = await budget_answer(args, ctx) if args.dataset or args.budget_usd or args.family else None
    if budget and not (args.model or args.params):
        # The model alone: its count is then read (or guessed from its name) and said so, never "as given".
        args = args.model_copy(update={"model": subject(budget, args.family or "")["model"]})
    found = await find_parameter_count(model=args.model, params=args.params, backend=ctx.backend)
    params, shape = found.count, found.shape
    notes: list[str] = []
    if not shape and found.source in ("given", "hub"):
        notes.append("No config.json was read: the activation estimate assumes a typical architecture for "
                     f"{format_count(params)} parameters.")
    flavors = await ctx.backend.hardware()
    common: dict[str, Any] = dict(params=params, max_length=args.max_length, batch_size=args.batch_size,
                                  gradient_checkpointing=args.gradient_checkpointing, lora_r=args.lora_r, **shape)
    estimates = {method: estimate_memory(method=method, **common) for method in METHODS}
    fitting = {method: recommend(memory_gb=e.total_gb, flavors=flavors, timeout_s=timeout, params=params,
                                 estimate=e)
               for method, e in estimates.items()}
    by_method = {method: MethodSummary(total_gb=round(estimates[method].total_gb, 2),
                                       cheapest=fits[0].flavor.name if fits else None,
                                       cost_usd=round(fits[0].cost_usd, 4) if fits else None,
                                       needs_sharding=bool(fits) and _shards(fits[0].flavor, estimates[method]))
                 for method, fits in fitting.items()}

    estimate, fits = estimates[args.method], fitting[args.method]
    picked = fits[:args.limit]
    runnable = next((r for r in fits if r.flavor.runnable), None)
    if runnable is not None and runnable not in picked:
        picked.append(runnable)  # the cheapest this backend can run, even when dearer ones are listed first
    chosen = [Choice(flavor=r.flavor.name, gpu=r.flavor.gpu, gpu_count=r.flavor.gpu_count, vram_gb=r.flavor.vram_gb,
                     ram_gb=r.flavor.ram_gb, price_per_hour=r.flavor.price_per_hour, cost_usd=round(r.cost_usd, 4),
                     runnable=r.flavor.runnable,
                     needs_sharding=_shards(r.flavor, estimate))
              for r in picked]
    if not fits:
        lighter = [m for m in METHODS if by_method[m].cheapest]
        # Only what would change something: batch size 1 and gradient checkpointing are already the defaults.
        smaller = [f"batch_size=1 (not {args.batch_size})"] if args.batch_size > 1 else []
        smaller += [] if args.gradient_checkpointing else ["gradient_checkpointing=true"]
        notes.append(f"No flavor holds {estimate.total_gb:.1f} GB: try a lighter method"
                     + (f" ({', '.join(lighter)} fit)" if lighter else "")
                     + ", a shorter max_length" + "".join(f", {s}" for s in smaller) + ".")
    elif runnable is None:
        notes.append(f"None of the flavors that fit runs on {ctx.backend.traits.place}: run it on Hugging Face "
                     "Jobs (server option --backend hf).")
    if chosen and chosen[0].needs_sharding:
        notes.append(f"{chosen[0].flavor} holds it only across its {chosen[0].gpu_count} GPUs: the run must split "
                     "the model across them (FSDP or DeepSpeed ZeRO-3).")
        single = next((c for c in chosen if c.gpu_count == 1), None)
        if single is not None:
            notes.append(f"The cheapest single-GPU flavor that holds it is {single.flavor}.")
    near = _without_margin(estimate, flavors, timeout, picked)
    if near:
        notes.append(near)
    out = Output(model=args.model, params=params, params_source=found.source, method=args.method, estimate=estimate,
                 timeout=format_duration(timeout), timeout_seconds=timeout, backend=ctx.backend.name,
                 flavors=chosen, by_method=by_method, lookup=" ".join(found.notes) or None, notes=notes,
                 batch_size=args.batch_size, max_length=args.max_length, dataset=args.dataset)
    return await with_forecasts(out, args, ctx, budget, params=params, shape=shape, flavors=flavors)


def _shards(flavor: Any, estimate: MemoryEstimate) -> bool:
    return flavor.is_gpu and estimate.total_gb > flavor.vram_per_gpu_gb


def _without_margin(estimate: MemoryEstimate, flavors: list[Any], timeout: float, picked: list[Any]) -> str | None:
    """Single-GPU flavors cheaper than those listed that hold the estimate without its safety margin: a run may
    fit there with a smaller batch or max_length, at the risk of running out of memory."""
    bare = estimate.total_gb / SAFETY_MARGIN
    listed = {r.flavor.name for r in picked}
    cheapest = min((r.flavor.price_per_hour for r in picked), default=math.inf)
    close = [f for f in flavors if f.gpu_count == 1 and f.name not in listed and bare <= f.vram_gb
             and f.price_per_hour < cheapest]
    if not close:
        return None
    close.sort(key=lambda f: f.price_per_hour)
    names = ", ".join(f"{f.name} ({f.vram_gb:g} GB, {usd(f.cost(timeout))})" for f in close[:3])
    return (f"Without the {SAFETY_MARGIN:g}x safety margin ({bare:.1f} GB) it would also fit on {names}: tight, "
            "so keep batch size 1 and a short max_length there.")


_SOURCE_TEXT = {"given": "as given", "config.json": "from its config.json", "hub": "from the Hub",
                "hub cache": "from the local Hugging Face cache", "name": "guessed from its name"}


def render(out: Output) -> str:
    name = out.model or "the model"
    lines = [out.lookup] if out.lookup else []
    lines += [f"{name}: {format_count(out.params)} parameters ({_SOURCE_TEXT[out.params_source]}). "
             f"A {out.method} fine-tune needs about {out.estimate.total_gb:.1f} GB of GPU memory.",
             f"How: {out.estimate.formula}."]
    if out.flavors:
        lines.append(f"Flavors that fit, cheapest first, with the cost of a {out.timeout} run:")
        for choice in out.flavors:
            hardware = (f"{choice.gpu_count}x {choice.gpu}, {choice.vram_gb:g} GB VRAM" if choice.gpu_count
                        else f"CPU, {choice.ram_gb:g} GB RAM")
            marks = ("" if choice.runnable else " [not runnable on this backend]") + (
                " [needs sharding]" if choice.needs_sharding else "")
            lines.append(f"- {choice.flavor} ({hardware}): {usd(choice.price_per_hour)}/h, "
                         f"{usd(choice.cost_usd)}{marks}")
    lines.append("Every method, cheapest fit for the timeout: " + "; ".join(
        f"{m} {s.total_gb:.1f} GB -> " + (f"{s.cheapest} {usd(s.cost_usd or 0)}"
                                          + (" (split across its GPUs)" if s.needs_sharding else "")
                                          if s.cheapest else "nothing fits")
        for m, s in out.by_method.items()) + ".")
    lines += out.notes + render_forecasts(out)
    best = next((c for c in out.flavors if c.runnable), None)
    timeout = out.timeout
    if best is not None and (plan := next((r for r in out.runs if r.flavor == best.flavor), None)):
        # The suggested launch carries a timeout its own forecast does not overrun (the worst case, and a margin).
        timeout = f"{min(168, math.ceil(plan.forecast.seconds_pessimistic * 1.2 / 3600))}h"
    if best is not None:
        peft = {"full": "", "lora": " use_peft=true", "qlora": ' use_peft=true extra_args={"load_in_4bit": true}'}
        if not best.gpu_count and out.method == "qlora":
            peft["qlora"] = " use_peft=true"  # 4-bit loading (bitsandbytes) needs a GPU: LoRA on a CPU
        lines.append(f"{next_call('launch_training', model=out.model or '<model>', dataset=out.dataset or '<dataset>')}"
                     f" flavor={best.flavor} timeout={timeout}{peft[out.method]} per_device_train_batch_size="
                     f"{out.batch_size} max_length={out.max_length} dry_run=true to check the run and its cost.")
    else:
        lines.append(f"{next_call('list_hardware')} to see what this backend can run.")
    return "\n".join(lines)


TOOL = ToolDef(
    name="recommend_hardware",
    title="Recommend hardware",
    description="Memory a full, LoRA or QLoRA fine-tune needs, the flavors that hold it, each one's time and cost; budgets.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True),  # asks the Hub for a model's size
    run=recommend_hardware,
    render=render,
)
