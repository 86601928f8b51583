"""Budget questions: which flavors run a fine-tune within a budget, how long and how much each, and the largest
model of a family that fits the budget. Built on jobs.forecast and jobs.preflight's memory need.

A family's sizes come from the Hub (its models named '<family>-<size>B', e.g. Qwen/Qwen2.5-7B) when it answers,
else from FAMILY_SIZES, said so.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, Field

from .calibration import CalibrationStore
from ..core.flavors import Flavor
from .forecast import Forecast, RunSettings, forecast
from .model_size import size_from_name
from .preflight import memory_need

HUB_TIMEOUT_S = 4.0
# Common families' base sizes, in billions, for when the Hub cannot be asked.
FAMILY_SIZES: dict[str, tuple[float, ...]] = {
    "Qwen/Qwen2.5": (0.5, 1.5, 3, 7, 14, 32, 72), "Qwen/Qwen3": (0.6, 1.7, 4, 8, 14, 32),
    "meta-llama/Llama-3.2": (1, 3), "meta-llama/Llama-3.1": (8, 70), "google/gemma-3": (1, 4, 12, 27),
    "HuggingFaceTB/SmolLM2": (0.135, 0.36, 1.7), "mistralai/Mistral": (7,),
}


class FlavorPlan(BaseModel):
    """One flavor's answer for a run: memory, duration and cost, and whether it is within the budget."""

    flavor: str
    memory_gb: float = Field(description="need per GPU")
    fits: bool
    forecast: Forecast
    within_budget: bool | None = Field(default=None, description="likely cost <= budget_usd; null: no budget")
    worst_within_budget: bool | None = Field(default=None, description="pessimistic cost <= budget_usd")


class FamilyPick(BaseModel):
    """The largest model of a family a budget runs, and where its sizes came from."""

    model: str | None = Field(description="null: not even the smallest fits the budget")
    params: float | None = None
    flavor: str | None = None
    forecast: Forecast | None = None
    sizes: list[float] = Field(description="the family's sizes considered, in parameters")
    sizes_source: str


def plan_flavors(settings: RunSettings, *, flavors: list[Flavor], shape: dict[str, Any],
                 store: CalibrationStore | None = None, budget_usd: float | None = None) -> list[FlavorPlan]:
    """Every GPU flavor (and CPU flavors for tiny models) that holds the run, with its forecast, cheapest
    likely cost first."""
    plans = []
    for flavor in flavors:
        if not flavor.is_gpu and settings.params > 50e6:
            continue
        _, need = memory_need(settings, flavor=flavor, shape=shape)
        capacity = flavor.vram_per_gpu_gb if flavor.is_gpu else flavor.ram_gb
        if need > capacity:
            continue
        run = settings.model_copy(update={"processes": max(1, flavor.gpu_count),
                                          "precision": "bf16" if flavor.is_gpu else "fp32"})
        calibration = store.lookup(flavor=flavor.name, settings=run) if store else None
        fc = forecast(settings=run, flavor=flavor, calibration=calibration)
        plans.append(FlavorPlan(flavor=flavor.name, memory_gb=round(need, 1), fits=True, forecast=fc,
                                within_budget=None if budget_usd is None else fc.cost_likely_usd <= budget_usd,
                                worst_within_budget=None if budget_usd is None
                                else fc.cost_pessimistic_usd <= budget_usd))
    plans.sort(key=lambda p: (p.forecast.cost_likely_usd, p.forecast.seconds_likely))
    return plans


def family_sizes(family: str, *, endpoint: str | None = None, token: str | None = None) -> tuple[list[float], str]:
    """(sizes in parameters, smallest first; where they came from). Blocking: run it in a worker thread."""
    family = family.strip().rstrip("-")
    org, _, stem = family.rpartition("/")
    pattern = re.compile(rf"{re.escape(stem)}-(\d+(?:\.\d+)?[BbMm])$")
    try:
        from huggingface_hub import constants, get_session

        if constants.HF_HUB_OFFLINE or not org:
            raise OSError("offline")
        # One bounded request, not HfApi.list_models: its retries would hold an offline answer for half a minute.
        base = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = get_session().get(f"{base}/api/models", params={"author": org, "search": stem, "limit": "200"},
                                     headers=headers, timeout=HUB_TIMEOUT_S)
        response.raise_for_status()
        ids = [str(m.get("id", "")) for m in response.json() if isinstance(m, dict)]
        found = {size_from_name(i) for i in ids if pattern.fullmatch(i.rsplit("/", 1)[-1])}
        sizes = sorted(s for s in found if s)
        if sizes:
            return sizes, f"the Hub's {org} models named {stem}-<size>"
    except Exception:  # the Hub is a convenience here: the built-in table answers offline
        pass
    known = next((v for k, v in FAMILY_SIZES.items() if k.lower() == family.lower()), None)
    if known:
        return [s * 1e9 for s in known], "a built-in table of common sizes (the Hub could not be asked)"
    return [], "unknown family (the Hub could not be asked, and it is not in the built-in table)"


def member(family: str, size: float) -> str:
    """'Qwen/Qwen2.5', 7e9 -> 'Qwen/Qwen2.5-7B'; 135e6 -> '...-135M'."""
    return f"{family.strip().rstrip('-')}-" + (f"{size / 1e9:g}B" if size >= 1e9 else f"{size / 1e6:g}M")


def largest_in_budget(family: str, sizes: list[float], source: str, *, settings: RunSettings,
                      flavors: list[Flavor], budget_usd: float, store: CalibrationStore | None = None) -> FamilyPick:
    """The largest size whose cheapest fitting flavor's likely cost is within `budget_usd`."""
    best: FamilyPick = FamilyPick(model=None, sizes=sizes, sizes_source=source)
    for size in sizes:
        run = settings.model_copy(update={"params": size})
        plans = [p for p in plan_flavors(run, flavors=flavors, shape={}, store=store, budget_usd=budget_usd)
                 if p.within_budget]
        if plans:
            best = FamilyPick(model=member(family, size), params=size, flavor=plans[0].flavor,
                              forecast=plans[0].forecast, sizes=sizes, sizes_source=source)
    return best
