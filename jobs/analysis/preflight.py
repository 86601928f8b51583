"""Before a training job starts: will it fit, how long will it take, what will it cost, and will its timeout
hold. The dry run and the launch ask the same question here, so they refuse and warn alike.

Memory comes from jobs.estimate with the launch's own batch size, max_length, gradient checkpointing, method and
GPUs (under FSDP the weights, gradients and optimizer states are split across the GPUs; the activations are
not). A GPU flavor whose memory is below the estimate without its safety margin refuses the run, naming the ways
out; between the two it is allowed with a warning. A CPU flavor only warns (tiny models train there; RAM is
elastic with swap, and the local backend says when a flavor cannot run here).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
from pydantic import BaseModel, Field

from .calibration import CalibrationStore
from .dataset_size import DatasetSize, dataset_size
from .estimate import SAFETY_MARGIN, MemoryEstimate, estimate_memory, per_gpu_gb
from ..core.flavors import Flavor, all_flavors
from .forecast import ONLINE_TRAINERS, Forecast, RunSettings, forecast
from .model_size import find_parameter_count
from ..core.models import InvalidJobSpec, format_duration
from ..recipes.arguments import extra_names
from ..recipes.distributed import method_of
from ..recipes.request import TrainingRequest

if TYPE_CHECKING:
    from ..backends.base import Backend

# TRL 1.16's defaults where the request leaves a field out (its SFTConfig, DPOConfig, GRPOConfig...).
DEFAULTS: dict[str, Any] = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
                            "num_train_epochs": 3.0, "max_length": 1024, "num_generations": 8,
                            "max_completion_length": 512}
Fit = Literal["fits", "tight", "no", "unknown"]


class Preflight(BaseModel):
    """What a launch learns before it starts."""

    forecast: Forecast | None = None
    memory_gb: float | None = Field(default=None, description="estimated need per GPU (or RAM on a CPU flavor)")
    fit: Fit = "unknown"
    dataset_rows: int | None = None
    dataset_source: str | None = None
    settings: RunSettings | None = None
    notes: list[str] = []
    refusal: str | None = Field(default=None, description="why the run cannot fit, with the ways out")


def _extra(request: TrainingRequest, name: str) -> Any:
    """The value `extra_args` gives `name` (dict or '--name=value' words), or None."""
    extra = request.extra_args
    if isinstance(extra, dict):
        return extra.get(name, extra.get(f"--{name}"))
    words = list(extra or [])
    for i, word in enumerate(words):
        key, _, value = word[2:].partition("=")
        if word.startswith("--") and key.replace("-", "_") == name:
            return value if value else (words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("--")
                                        else "true")
    return None


def _flag(value: Any, default: bool) -> bool:
    return default if value is None else str(value).strip().lower() not in ("false", "0", "no")


def _setting(request: TrainingRequest, name: str) -> Any:
    value = getattr(request, name, None)
    if value is None:
        value = _extra(request, name)
    return DEFAULTS.get(name) if value is None else value


def run_settings(request: TrainingRequest, *, flavor: Flavor, params: float, size: DatasetSize) -> RunSettings:
    """The settings the launch will really use: the request's, else extra_args', else TRL's defaults."""
    processes = max(1, flavor.gpu_count)
    names = extra_names(request.extra_args)
    precision = "fp32" if not flavor.is_gpu else "bf16"
    if "bf16" in names and not _flag(_extra(request, "bf16"), True):
        precision = "fp16" if _flag(_extra(request, "fp16"), False) else "fp32"
    online = request.trainer in ONLINE_TRAINERS
    return RunSettings(
        trainer=request.trainer, params=params, method=method_of(request),
        gradient_checkpointing=_flag(_extra(request, "gradient_checkpointing"), True), precision=precision,
        per_device_batch=int(_setting(request, "per_device_train_batch_size")),
        grad_accum=int(_setting(request, "gradient_accumulation_steps")), processes=processes,
        epochs=float(_setting(request, "num_train_epochs")), max_steps=request.max_steps,
        max_length=None if online else int(_setting(request, "max_length")),
        packing=bool(request.packing), rows=size.rows, tokens_per_row=size.tokens_per_row,
        num_generations=int(_setting(request, "num_generations")),
        max_completion_length=int(_setting(request, "max_completion_length")))


def memory_need(settings: RunSettings, *, flavor: Flavor, shape: dict[str, Any],
                method: str | None = None, batch: int | None = None) -> tuple[MemoryEstimate, float]:
    """The estimate and the GB each GPU needs: the whole model on each for data parallel, the states split across
    them under FSDP (which a launch picks when one GPU is too small; jobs.recipes.distributed)."""
    length = settings.max_length or (settings.tokens_per_row + settings.max_completion_length)
    est = estimate_memory(params=settings.params, method=method or settings.method,  # type: ignore[arg-type]
                          max_length=max(1, int(min(length, 1_048_576))),
                          batch_size=batch or settings.per_device_batch,
                          gradient_checkpointing=settings.gradient_checkpointing, **shape)
    return est, per_gpu_gb(est, flavor)


def _ways_out(settings: RunSettings, *, flavor: Flavor, shape: dict[str, Any], flavors: list[Flavor],
              need: float) -> list[str]:
    capacity = flavor.vram_per_gpu_gb
    ways = []
    for method, how in (("lora", "use_peft=true (LoRA)"),
                        ("qlora", 'use_peft=true with extra_args {"load_in_4bit": true} (QLoRA)')):
        if settings.method == "full" or (settings.method == "lora" and method == "qlora"):
            _, gb = memory_need(settings, flavor=flavor, shape=shape, method=method)
            if gb <= capacity:
                ways.append(f"{how}: about {gb:.0f} GB")
    bigger = sorted((f for f in flavors if f.is_gpu and memory_need(settings, flavor=f, shape=shape)[1]
                     <= f.vram_per_gpu_gb), key=lambda f: f.price_per_hour)
    if bigger:
        f = bigger[0]
        ways.append(f"flavor={f.name} ({f.gpu_count}x {f.gpu}, {f.vram_gb:g} GB, ${f.price_per_hour:g}/h)")
    if settings.per_device_batch > 1:
        _, gb = memory_need(settings, flavor=flavor, shape=shape, batch=1)
        accum = settings.per_device_batch * settings.grad_accum
        if gb <= capacity:
            ways.append(f"per_device_train_batch_size=1 with gradient_accumulation_steps={accum} (the same "
                        f"effective batch): about {gb:.0f} GB")
    return ways or [f"nothing at these settings: {need:.0f} GB; shorten max_length or pick a smaller model"]


def timeout_note(fc: Forecast, *, timeout_s: float, pushes: bool, default: bool, keeps_files: bool) -> str | None:
    """What a timeout shorter than the pessimistic duration would do, and the timeout to pass instead."""
    if fc.seconds_pessimistic <= timeout_s:
        return None
    wanted = fc.seconds_pessimistic * 1.2
    proposed = f"{math.ceil(wanted / 3600)}h" if wanted > 3 * 3600 else f"{max(1, math.ceil(wanted / 60))}m"
    if pushes:
        lost = ("checkpoints pushed so far survive (rerun_job with resume=true continues); the steps since the last "
                "save are lost")
    elif keeps_files:
        lost = "checkpoints saved in its output folder survive; the steps since the last save are lost"
    else:
        lost = ("everything is lost: its files die with the job; set push_to_hub and hub_model_id to keep its "
                "checkpoints")
    which = "the default timeout" if default else "the timeout"
    return (f"Timeout too short: the run may take {fc.duration_text()}, longer than {which} of "
            f"{format_duration(timeout_s)}. "
            f"Pass timeout='{proposed}'. If it is stopped: {lost}.")


async def preflight(request: TrainingRequest, *, flavor: Flavor, backend: Backend, timeout_s: float,
                    default_timeout: bool = False, store: CalibrationStore | None = None) -> Preflight:
    """Memory fit, forecast and timeout check for a training launch; `refusal` set when the run cannot fit.
    Never raises for a lookup that failed: what could not be read is said in the notes."""
    try:
        found = await find_parameter_count(model=request.model, params=None, backend=backend)
    except InvalidJobSpec as exc:
        return Preflight(notes=[f"No forecast or memory check: {str(exc).removeprefix('params: ')}"])
    size = await anyio.to_thread.run_sync(lambda: dataset_size(
        request.dataset, config=request.dataset_config, split=request.dataset_split))
    settings = run_settings(request, flavor=flavor, params=found.count, size=size)
    calibration = store.lookup(flavor=flavor.name, settings=settings) if store is not None else None
    fc = forecast(settings=settings, flavor=flavor, calibration=calibration)
    notes = [f"Forecast on {flavor.name}: {fc.duration_text()}, {fc.cost_text()}; {fc.total_steps:,} steps, "
             f"{fc.tokens:,} tokens. Basis: {'; '.join(fc.basis)}. Dataset: {size.note}."]
    est, need = memory_need(settings, flavor=flavor, shape=found.shape)
    capacity = flavor.vram_per_gpu_gb if flavor.is_gpu else flavor.ram_gb
    unit = "per GPU" if flavor.is_gpu else "of RAM"
    fit: Fit = "fits" if need <= capacity else "tight" if need / SAFETY_MARGIN <= capacity else "no"
    refusal = None
    if fit == "no" and flavor.is_gpu:
        ways = _ways_out(settings, flavor=flavor, shape=found.shape, flavors=await _flavors(backend), need=need)
        refusal = (f"a {settings.method} fine-tune of {request.model} needs about {need:.0f} GB {unit} "
                   f"(batch {settings.per_device_batch}, max_length {settings.max_length or 'prompt+completion'}, "
                   f"gradient checkpointing {'on' if settings.gradient_checkpointing else 'off'}) and {flavor.name} "
                   f"has {capacity:g} GB: it would run out of memory. Ways out: " + "; ".join(ways) + ".")
    elif fit == "no":
        notes.append(f"Memory: about {need:.0f} GB, more than {flavor.name}'s {capacity:g} GB of RAM: it may swap "
                     "or be killed; a GPU flavor (recommend_hardware) fits it better.")
    elif fit == "tight":
        notes.append(f"Memory is tight: about {need:.0f} GB {unit} with the {SAFETY_MARGIN:g}x margin, "
                     f"{need / SAFETY_MARGIN:.0f} GB without, on {capacity:g} GB. It may run out of memory: a "
                     "smaller per_device_train_batch_size (with gradient_accumulation_steps) or max_length is safer.")
    else:
        notes.append(f"Memory: about {need:.0f} GB {unit} of {capacity:g} GB ({est.method}).")
    late = timeout_note(fc, timeout_s=timeout_s, pushes=bool(request.push_to_hub), default=default_timeout,
                        keeps_files=backend.traits.keeps_files)
    if late:
        notes.append(late)
    return Preflight(forecast=fc, memory_gb=round(need, 2), fit=fit, dataset_rows=size.rows,
                     dataset_source=size.source, settings=settings, notes=notes, refusal=refusal)


async def _flavors(backend: Backend) -> list[Flavor]:
    try:
        return await backend.hardware()
    except Exception:  # the catalog's prices when the backend cannot say
        return all_flavors()
