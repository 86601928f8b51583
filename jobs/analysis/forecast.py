"""How long a training run takes and what it costs, before it starts: a pure function of its settings and a
throughput model of its flavor.

    steps      = ceil(ceil(examples / (batch x processes)) / accumulation) per epoch (the Trainer's count), or
                 max_steps; GRPO/RLOO sample num_generations completions per prompt, so examples = rows x generations
    tokens     = examples seen x tokens per example (capped at max_length; packed SFT fills max_length blocks)
    train time = tokens x k x N / (peak FLOP/s x MFU) + steps x a step's fixed cost
                 k = 6 for a full fine-tune (forward 2N, backward 4N), 4 for LoRA/QLoRA (no weight gradients of the
                 base), +2 with gradient checkpointing (the forward again), +2 for DPO/KTO (the reference model's
                 forward); MFU 35% likely, 20% pessimistic on a GPU (attention's own FLOPs left out)
    generation = (GRPO, RLOO) steps x max_completion_length decoding steps, each reading the weights once at a share
                 of the memory bandwidth (plus a fixed cost per decoding step): the range is wider
    duration   = start-up (the job's environment, the weights read or downloaded) + train time + generation
    cost       = the flavor's price x duration, per started minute (flavors.billed_cost)

A calibration from the user's own finished runs (jobs.calibration) replaces the first guess's speed and start-up
with the measured ones. Nothing here reads a file or the network.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field

from .estimate import Method, format_count
from ..core.flavors import Flavor, billed_cost, peak_figures

ONLINE_TRAINERS = ("grpo", "rloo")
PAIRED_TRAINERS = ("dpo", "reward")  # two sequences (chosen, rejected) per row
REFERENCE_TRAINERS = ("dpo", "kto")  # a reference model's forward per token

MFU = {"gpu": (0.35, 0.20), "cpu": (0.25, 0.10)}  # (likely, pessimistic) share of the peak a training step reaches
BANDWIDTH_SHARE = (0.5, 0.15)  # of the memory bandwidth a decoding step reaches: HF generate, no vLLM
STEP_COST_S = {"gpu": (0.08, 0.2), "cpu": (0.1, 0.3)}  # per optimizer step: data, optimizer, logging
DECODE_STEP_COST_S = {"gpu": (0.02, 0.05), "cpu": (0.004, 0.012)}  # per decoding step: kernel launches, sampling
ROUND_COST_S = {"gpu": (0.5, 1.5), "cpu": (1.0, 3.0)}  # per GRPO/RLOO step: generate() setup, rewards, logprobs
STARTUP_S = {"gpu": 150.0, "cpu": 30.0}  # environment and imports; plus the weights below
WEIGHTS_READ_BYTES_PER_S = 200e6  # a download from the Hub into a fresh container
PESSIMISTIC_PADDING = 1.5  # tokens per example when batches pad to their longest


class RunSettings(BaseModel):
    """A run's resolved settings: what the launch will really use (TRL's defaults filled in)."""

    trainer: str = "sft"
    params: float = Field(description="the model's parameter count")
    method: Method = "full"
    gradient_checkpointing: bool = True
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    per_device_batch: int = 8
    grad_accum: int = 1
    processes: int = Field(default=1, description="training processes: one per GPU")
    epochs: float = 3.0
    max_steps: int | None = None
    max_length: int | None = 1024
    packing: bool = False
    rows: int = Field(description="examples (rows) in the training split")
    tokens_per_row: float = Field(description="average tokens of a row's text")
    num_generations: int = 8
    max_completion_length: int = 512


class Calibration(BaseModel):
    """What the user's own finished runs measured for one flavor, size band, method and kind of trainer."""

    runs: int
    flavor: str
    speed_factor: float = Field(description="measured train time / first guess's, median over the runs")
    tokens_per_second: float | None = None
    startup_s: float | None = Field(default=None, description="measured duration minus train_runtime, median")
    spread: float = Field(default=1.25, description="pessimistic / likely, from how far the runs scattered")


class Forecast(BaseModel):
    """Steps, tokens, duration and cost of one run on one flavor, likely and pessimistic, with what they rest on."""

    flavor: str
    steps_per_epoch: int
    total_steps: int
    epochs: float = Field(description="epochs the steps cover")
    tokens: int = Field(description="tokens the training steps process")
    generated_tokens: int = Field(default=0, description="GRPO/RLOO: completion tokens sampled")
    train_seconds: float = Field(description="likely time in the training loop (what TRL logs as train_runtime)")
    first_guess_train_seconds: float = Field(description="the same before any calibration")
    seconds_likely: float
    seconds_pessimistic: float
    cost_likely_usd: float
    cost_pessimistic_usd: float
    calibrated: str | None = Field(default=None, description="e.g. 'calibrated from 3 of your runs on a10g-large'")
    basis: list[str] = Field(description="what the figures rest on")

    def duration_text(self) -> str:
        return f"{_human(self.seconds_likely)} likely, {_human(self.seconds_pessimistic)} at worst"

    def cost_text(self) -> str:
        return f"${self.cost_likely_usd:.2f}-${self.cost_pessimistic_usd:.2f}"


def eta_text(left_s: float, step_s: float) -> str:
    """'ETA 4m (1.2 s/step measured)': what is left at this run's own measured step time."""
    return f"ETA {_human(left_s)} ({step_s:.3g} s/step measured)"


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def steps_of(*, examples: int, per_device_batch: int, grad_accum: int, processes: int) -> int:
    """Optimizer steps in one epoch of `examples`, as the Trainer counts them.

    Example:
        >>> steps_of(examples=1000, per_device_batch=8, grad_accum=4, processes=2)  # ceil(ceil(1000/16)/4)
        16
    """
    batches = math.ceil(examples / (per_device_batch * processes))
    return max(1, math.ceil(batches / grad_accum))


def size_band(params: float) -> str:
    """The model-size band calibrations are kept by: '<1M', '1M-10M', '10M-100M', ..., '>=30B'."""
    for limit, name in ((1e6, "<1M"), (1e7, "1M-10M"), (1e8, "10M-100M"), (1e9, "100M-1B"), (3e9, "1B-3B"),
                        (1e10, "3B-10B"),
                        (3e10, "10B-30B")):
        if params < limit:
            return name
    return ">=30B"


def kind_of(trainer: str) -> str:
    """'generation' for online RL, whose time is mostly sampling; 'train' for the others."""
    return "generation" if trainer in ONLINE_TRAINERS else "train"


def forecast(*, settings: RunSettings, flavor: Flavor, calibration: Calibration | None = None) -> Forecast:
    """The forecast of a run with `settings` on `flavor` (formulas in the module docstring).

    Args:
        settings: the resolved launch settings (see RunSettings).
        flavor: where it runs, with the price it is billed at.
        calibration: the user's measured speed for this flavor, size band, method and kind (jobs.calibration).

    Example:
        >>> s = RunSettings(params=5e8, rows=1000, tokens_per_row=300, per_device_batch=8, epochs=1)
        >>> forecast(settings=s, flavor=get_flavor("a10g-large")).total_steps
        125
    """
    s = settings
    online = s.trainer in ONLINE_TRAINERS
    device = "gpu" if flavor.is_gpu else "cpu"
    basis: list[str] = []

    per_row = s.tokens_per_row
    if online:
        examples = s.rows * s.num_generations
        per_example = per_row + s.max_completion_length
        basis.append(f"{s.rows:,} prompts x {s.num_generations} generations = {examples:,} completions an epoch")
    elif s.trainer == "sft" and s.packing and s.max_length:
        examples = max(1, math.ceil(s.rows * per_row / s.max_length))
        per_example = float(s.max_length)
        basis.append(f"packed: {s.rows:,} rows x {per_row:.0f} tokens in {examples:,} blocks of {s.max_length}")
    else:
        examples = s.rows
        cap = (s.max_length or math.inf) * (2 if s.trainer in PAIRED_TRAINERS else 1)
        per_example = min(per_row, cap)
        basis.append(f"{s.rows:,} rows x {per_example:.0f} tokens"
                     + (f" (capped by max_length {s.max_length})" if per_row > cap else ""))
    per_epoch = steps_of(examples=examples, per_device_batch=s.per_device_batch, grad_accum=s.grad_accum,
                         processes=s.processes)
    total = s.max_steps if s.max_steps else max(1, math.ceil(s.epochs * per_epoch))
    step_examples = s.per_device_batch * s.grad_accum * s.processes
    basis.append(f"{per_epoch:,} steps an epoch = {examples:,} / ({s.per_device_batch} batch x {s.grad_accum} "
                 f"accumulation x {s.processes} process{'es' if s.processes > 1 else ''}); "
                 + (f"max_steps {total:,}" if s.max_steps else f"{s.epochs:g} epochs, {total:,} steps"))
    seen = min(total * step_examples, math.ceil(total / per_epoch * examples))
    tokens = int(seen * per_example)

    k = (6 if s.method == "full" else 4) + (2 if s.gradient_checkpointing else 0)
    k += 2 if s.trainer in REFERENCE_TRAINERS else 0
    peak_flops, bandwidth = peak_figures(flavor)
    if flavor.is_gpu and s.precision == "fp32":
        peak_flops /= 8  # fp32 without tensor cores: a guess
    mfu = MFU[device]
    step_cost = STEP_COST_S[device]
    flops = tokens * k * s.params
    train = [flops / (peak_flops * m) + total * c for m, c in zip(mfu, step_cost, strict=True)]
    train[1] += flops * (PESSIMISTIC_PADDING - 1) / (peak_flops * mfu[1]) if not online else 0
    what = "QLoRA" if s.method == "qlora" else "LoRA" if s.method == "lora" else "full"
    basis.append(f"{k} x {format_count(s.params)} params FLOPs a token ({what}"
                 + (", checkpointing" if s.gradient_checkpointing else "")
                 + (", reference model" if s.trainer in REFERENCE_TRAINERS else "")
                 + f") at {mfu[0]:.0%} ({mfu[1]:.0%} at worst) of {peak_flops / 1e12:.3g} peak TFLOPS")

    generated = 0
    gen = [0.0, 0.0]
    if online:
        weight_bytes = s.params * {"full": 2.0, "lora": 2.0, "qlora": 0.55}[s.method]
        if not flavor.is_gpu or s.precision == "fp32":
            weight_bytes = s.params * 4.0
        decode_steps = total * s.max_completion_length
        generated = seen * s.max_completion_length
        gen = [decode_steps * (weight_bytes / (bandwidth * share) + cost)
               for share, cost in zip(BANDWIDTH_SHARE, DECODE_STEP_COST_S[device], strict=True)]
        gen[0] *= 0.75  # completions often end before max_completion_length
        gen = [g + total * c for g, c in zip(gen, ROUND_COST_S[device], strict=True)]
        basis.append(f"generation-bound: {total:,} steps x {s.max_completion_length} decoding steps, each reading "
                     f"{weight_bytes / 1e9:.2g} GB of weights at {BANDWIDTH_SHARE[0]:.0%} ({BANDWIDTH_SHARE[1]:.0%} "
                     f"at worst) of {bandwidth / 1e9:.0f} GB/s: a wider range than offline training")

    startup = STARTUP_S[device] + (s.params * 2.0 / WEIGHTS_READ_BYTES_PER_S if flavor.is_gpu else 0.0)
    startups = [startup, startup * 1.5]
    calibrated = None
    if calibration is not None and calibration.runs > 0:
        likely_loop = (train[0] + gen[0]) * calibration.speed_factor
        spread = max(calibration.spread, 1.1)
        loop = [likely_loop, likely_loop * spread]
        if calibration.startup_s is not None:
            startups = [calibration.startup_s, calibration.startup_s * spread]
        runs = f"{calibration.runs} of your runs"
        calibrated = f"calibrated from {runs} on {calibration.flavor}"
        basis.append(f"{calibrated}: {calibration.speed_factor:.2g}x the first guess's time"
                     + (f", {calibration.tokens_per_second:,.0f} tokens/s" if calibration.tokens_per_second else "")
                     + (f", start-up {calibration.startup_s:.0f}s" if calibration.startup_s is not None else ""))
    else:
        loop = [train[0] + gen[0], train[1] + gen[1]]
        basis.append(f"start-up {startup:.0f}s (environment, imports" + (", weights download" if flavor.is_gpu else "")
                     + "); not yet calibrated by a finished run of yours on " + flavor.name)
    likely, worst = startups[0] + loop[0], startups[1] + loop[1]
    basis.append(f"cost = ${flavor.price_per_hour:g}/h x duration, per started minute")
    return Forecast(flavor=flavor.name, steps_per_epoch=per_epoch, total_steps=total,
                    epochs=round(total / per_epoch, 3), tokens=tokens, generated_tokens=generated,
                    train_seconds=round(loop[0], 1), first_guess_train_seconds=round(train[0] + gen[0], 3),
                    seconds_likely=round(likely, 1),
                    seconds_pessimistic=round(worst, 1), cost_likely_usd=round(flavor.cost(likely), 4),
                    cost_pessimistic_usd=round(billed_cost(flavor.price_per_hour, worst), 4), calibrated=calibrated,
                    basis=basis)
