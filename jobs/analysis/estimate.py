"""How much GPU memory a fine-tune needs, and the cheapest flavors that hold it.

The estimate is an accounting, not a measurement: it is meant to choose hardware before anything is downloaded, so
it errs on the high side (a job that runs out of memory costs more than a slightly bigger GPU). GB = 10^9 bytes.

    total = (weights + gradients + optimizer + activations + CUDA overhead) x safety margin

Per parameter P (the model's) and per trainable adapter parameter A:

- full: bf16 mixed precision with AdamW, the ZeRO paper's accounting (Rajbhandari et al., 2020): weights 2 bytes
  (bf16) + gradients 2 + optimizer 12 (fp32 master weights 4, Adam's two moments 4 + 4) = 16 bytes per parameter.
  Training an fp32 checkpoint under bf16 autocast (the Trainer's `bf16=True` on fp32 weights) costs the same 16
  (weights 4 + gradients 4 + moments 8), and so does plain fp32 on a CPU.
- lora: the frozen base in bf16, 2 bytes per parameter, plus the adapter trained in fp32 (peft upcasts adapters):
  16 bytes per adapter parameter (weights 4 + gradients 4 + AdamW 8).
- qlora: the base in 4-bit NF4 with double quantization, 0.5 bytes per parameter plus quantization constants and
  the embedding and head that stay in bf16: 0.55 bytes per parameter on average; the adapter as for lora.

The adapter is rank r on every linear layer of each decoder layer (q, k, v, o, gate, up, down): its in + out
features sum to about 18 hidden sizes (6.5h for attention: q and o 2h each, k and v h + h/4 each with grouped KV
heads; 3 x (h + 2.7h) = 11.1h for a SwiGLU MLP), so A = 18 * r * hidden * layers, about 40M (0.6%) for a 7B model at r=16. peft's default targets fewer layers, so
this is an upper bound.

Activations, for T = batch_size x max_length tokens (fused SDPA/flash attention, so no seq^2 attention scores):
- without gradient checkpointing: 34 bytes per token per hidden unit per layer (Korthikanti et al., 2022, bf16);
- with it: 2 bytes per token per hidden unit per layer (the bf16 input each layer keeps) plus one layer's 34 while
  it is recomputed;
- the loss: fp32 logits and their gradient, 8 bytes per token per vocabulary entry (1.2 GB for 1024 tokens of a
  152k vocabulary: it dominates for small models).

When the model's shape is not given, it is guessed from P: layers x hidden = 0.0168 x P^0.7 (a fit through Qwen2
0.5B, Llama 2 7B and Llama 3 70B, within 5%), hidden = P / (12 x (layers x hidden)), and a 128k vocabulary.
Then 1 GB for the CUDA context and library workspaces, and a 20% margin for allocator fragmentation and for what
this accounting leaves out. Known results it reproduces: a 7B full fine-tune needs well over one 80 GB A100 (about
137 GB, which one 141 GB H200 holds); 7B LoRA in bf16 about 20 GB, a 24 GB A10G or L4; 7B QLoRA about 8 GB;
0.5B full about 12 GB, a 16 GB T4; 70B QLoRA about 55 GB, one 80 GB A100 (the QLoRA paper fit 65B in 48 GB, with
paged optimizers and short sequences: this errs high).

CPU flavors: training a GPU-sized model on CPUs is impractically slow, so `recommend` never offers a CPU flavor for
it. Tiny models (under CPU_MAX_PARAMS, 50M parameters) train in minutes on CPUs, and a CPU flavor costs a fraction
of any GPU: for them, CPU flavors whose RAM holds the estimate are offered too (and, being cheapest, first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple, get_args

from pydantic import BaseModel, Field

from ..core.flavors import Flavor
from ..core.models import InvalidJobSpec

Method = Literal["full", "lora", "qlora"]
METHODS: tuple[Method, ...] = get_args(Method)

GB = 1e9

# bytes per model parameter: (weights, gradients, optimizer states)
FULL_BYTES = (2.0, 2.0, 12.0)
FROZEN_WEIGHT_BYTES = {"lora": 2.0, "qlora": 0.55}
# bytes per trainable adapter parameter: fp32 weights, fp32 gradients, AdamW's two fp32 moments
ADAPTER_BYTES = (4.0, 4.0, 8.0)
ADAPTER_WIDTH = 18  # in + out features of a decoder layer's linear layers, in hidden sizes
DEFAULT_LORA_R = 16

ACTIVATION_BYTES_PER_LAYER = 34  # per token per hidden unit, one layer's saved activations in bf16
CHECKPOINT_BYTES_PER_LAYER = 2  # per token per hidden unit, the bf16 layer input kept under checkpointing
LOGIT_BYTES = 8  # per token per vocabulary entry: fp32 logits and their gradient
DEFAULT_VOCAB_SIZE = 128_000

CUDA_OVERHEAD_GB = 1.0
SAFETY_MARGIN = 1.2

CPU_MAX_PARAMS = 50e6


class MemoryEstimate(BaseModel):
    """The memory a fine-tune needs on its GPUs, in GB (10^9 bytes), by what holds it."""

    method: Method
    params: float = Field(description="parameters of the model")
    trainable_params: float = Field(description="parameters the optimizer updates (the adapter for lora/qlora)")
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    overhead_gb: float = Field(description="CUDA context and library workspaces")
    total_gb: float = Field(description="everything above, times the safety margin")
    formula: str = Field(description="the arithmetic, for a reader to check")


class ModelShape(BaseModel):
    """What the estimate needs to know about a model; the field names are estimate_memory's keywords."""

    params: float
    hidden_size: int
    num_layers: int
    vocab_size: int


class Recommendation(NamedTuple):
    flavor: Flavor
    cost_usd: float


def _positive(value: Any, field: str, *, integer: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if ok and integer and value != int(value):
        ok = False
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise InvalidJobSpec(f"must be {kind} greater than zero, got {value!r}.", field=field)


def _guess_shape(params: float) -> tuple[int, int]:
    """(hidden_size, num_layers) of a typical decoder of that size; see the module docstring."""
    width_depth = 0.0168 * params**0.7
    hidden = max(1, round(params / (12 * width_depth)))
    return hidden, max(1, round(width_depth / hidden))


def estimate_memory(*, params: float, method: Method, max_length: int = 1024, batch_size: int = 1,
                    gradient_checkpointing: bool = True, hidden_size: int | None = None,
                    num_layers: int | None = None, vocab_size: int | None = None,
                    lora_r: int = DEFAULT_LORA_R) -> MemoryEstimate:
    """The GPU memory a fine-tune of a model with `params` parameters needs (formula in the module docstring).

    Args:
        params: the model's parameter count (see `params_from_config`).
        method: "full", "lora" or "qlora".
        max_length: tokens per sequence.
        batch_size: sequences per device per step.
        gradient_checkpointing: recompute activations in the backward pass (TRL's default for SFT).
        hidden_size, num_layers, vocab_size: the model's shape; guessed from `params` when not given.
        lora_r: the adapter's rank (lora and qlora).

    Raises:
        InvalidJobSpec: a value that is not positive, or an unknown method (field names the argument).

    Example:
        >>> estimate_memory(params=7e9, method="full").total_gb > 80
        True
    """
    if method not in METHODS:
        raise InvalidJobSpec(f"unknown method {method!r}; use one of {', '.join(METHODS)}.", field="method")
    _positive(params, "params")
    for name, value in (("max_length", max_length), ("batch_size", batch_size), ("lora_r", lora_r)):
        _positive(value, name, integer=True)
    for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers), ("vocab_size", vocab_size)):
        if value is not None:
            _positive(value, name, integer=True)

    guessed_hidden, guessed_layers = _guess_shape(params)
    guessed = [name for name, value in (("hidden", hidden_size), ("layers", num_layers), ("vocab", vocab_size))
               if value is None]
    hidden = hidden_size or guessed_hidden
    layers = num_layers or guessed_layers
    vocab = vocab_size or DEFAULT_VOCAB_SIZE

    if method == "full":
        trainable = params
        w, g, o = (params * b for b in FULL_BYTES)
        bytes_text = "x (2 weights + 2 grads + 12 AdamW with fp32 master) B"
    else:
        trainable = float(ADAPTER_WIDTH * lora_r * hidden * layers)
        base = FROZEN_WEIGHT_BYTES[method]
        w = params * base + trainable * ADAPTER_BYTES[0]
        g, o = trainable * ADAPTER_BYTES[1], trainable * ADAPTER_BYTES[2]
        bytes_text = (f"x {base:g} B frozen {'bf16' if method == 'lora' else 'NF4'} + adapter "
                      f"{format_count(trainable)} (r={lora_r}) x 16 B")

    tokens = batch_size * max_length
    if gradient_checkpointing:
        per_hidden = CHECKPOINT_BYTES_PER_LAYER * layers + ACTIVATION_BYTES_PER_LAYER
        act_text = f"(2 x {layers} layers + 34, checkpointed)"
    else:
        per_hidden = ACTIVATION_BYTES_PER_LAYER * layers
        act_text = f"(34 x {layers} layers)"
    a = tokens * hidden * per_hidden + tokens * vocab * LOGIT_BYTES

    weights_gb, gradients_gb, optimizer_gb, activations_gb = (x / GB for x in (w, g, o, a))
    subtotal = weights_gb + gradients_gb + optimizer_gb + activations_gb + CUDA_OVERHEAD_GB
    total = subtotal * SAFETY_MARGIN
    formula = (
        f"{method}: {format_count(params)} params {bytes_text} = {weights_gb + gradients_gb + optimizer_gb:.1f} GB; "
        f"activations {tokens} tokens x {hidden} hidden x {act_text} B + {tokens} tokens x {vocab} vocab x 8 B "
        f"= {activations_gb:.1f} GB; + {CUDA_OVERHEAD_GB:g} GB CUDA overhead = {subtotal:.1f} GB; "
        f"x {SAFETY_MARGIN:g} margin = {total:.1f} GB"
        + (f" (guessed from the parameter count: {', '.join(guessed)})" if guessed else "")
    )
    return MemoryEstimate(method=method, params=params, trainable_params=trainable, weights_gb=weights_gb,
                          gradients_gb=gradients_gb, optimizer_gb=optimizer_gb, activations_gb=activations_gb,
                          overhead_gb=CUDA_OVERHEAD_GB, total_gb=total, formula=formula)


def format_count(n: float) -> str:
    """494032768 -> '494M', 7e9 -> '7B', 99616 -> '99.6k'."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.0f}"


# --- the parameter count from a config.json ---

_REQUIRED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
# Qwen2-family attention has biases on q, k and v (hard-coded, not in the config); Llama's `attention_bias` puts
# them on q, k, v and o.
_QKV_BIAS_TYPES = ("qwen2", "qwen2_moe", "qwen2_vl", "qwen2_vl_text", "qwen2_5_vl", "qwen2_5_vl_text")


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    # Vision-language configs nest the language model; its size is what training memory is mostly about.
    nested = config.get("text_config")
    if "hidden_size" not in config and isinstance(nested, Mapping):
        merged = dict(nested)
        merged.setdefault("tie_word_embeddings", config.get("tie_word_embeddings", False))
        merged.setdefault("model_type", config.get("model_type", ""))
        return merged
    return config


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def shape_from_config(config: Mapping[str, Any]) -> ModelShape:
    """The parameter count and shape of a Llama/Qwen2/Mistral-like decoder from its config.json (as a dict).

    Counts embeddings, the head (unless tied), attention with grouped KV heads and an explicit `head_dim`, biases
    (Qwen2's q/k/v, Llama's `attention_bias`/`mlp_bias`), SwiGLU MLPs or mixture-of-experts MLPs
    (`num_local_experts`/`num_experts`, `moe_intermediate_size`, a shared expert) and RMSNorm weights. Reading the
    dict imports nothing, so the server can call it. A missing `tie_word_embeddings` counts as untied (the default
    of these model classes).

    Raises:
        InvalidJobSpec: field "config", when a key it needs is missing or not a positive number.

    Example:
        >>> shape_from_config(qwen2_0_5b_config).params   # doctest: +SKIP
        494032768.0
    """
    if not isinstance(config, Mapping):
        raise InvalidJobSpec("expected the model's config.json as a mapping.", field="config")
    cfg = _text_config(config)
    missing = [k for k in _REQUIRED if not _positive_int(cfg.get(k))]
    if missing:
        raise InvalidJobSpec(f"config.json lacks {', '.join(missing)} (or they are not positive whole numbers), so "
                             f"the parameter count cannot be computed from it; give the count as `params` instead.",
                             field="config")
    vocab, h, inter, layers, heads = (int(cfg[k]) for k in _REQUIRED)
    head_dim = int(cfg.get("head_dim") or h // heads)
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    model_type = str(cfg.get("model_type") or "")
    q_out, kv_out = heads * head_dim, kv_heads * head_dim

    attention = h * q_out + 2 * h * kv_out + q_out * h
    if cfg.get("attention_bias"):
        attention += q_out + 2 * kv_out + h
    elif model_type in _QKV_BIAS_TYPES:
        attention += q_out + 2 * kv_out
    if model_type.startswith("qwen3"):
        attention += 2 * head_dim  # q_norm and k_norm

    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 0)
    if experts > 1:
        expert_inter = int(cfg.get("moe_intermediate_size") or inter)
        mlp = experts * 3 * h * expert_inter + h * experts  # experts and the router
        shared = int(cfg.get("shared_expert_intermediate_size") or 0)
        if shared:
            mlp += 3 * h * shared + h  # the shared expert and its gate
    else:
        mlp = 3 * h * inter + (2 * inter + h if cfg.get("mlp_bias") else 0)

    per_layer = attention + mlp + 2 * h  # two RMSNorms
    embeddings = vocab * h * (1 if cfg.get("tie_word_embeddings", False) else 2)
    params = layers * per_layer + embeddings + h  # the final norm
    return ModelShape(params=float(params), hidden_size=h, num_layers=layers, vocab_size=vocab)


def params_from_config(config: Mapping[str, Any]) -> float:
    """The parameter count of a Llama/Qwen2/Mistral-like decoder from its config.json; see `shape_from_config`."""
    return shape_from_config(config).params


# --- the cheapest flavors that fit ---


def per_gpu_gb(estimate: MemoryEstimate, flavor: Flavor) -> float:
    """The GB each GPU of `flavor` needs: the whole estimate when one GPU holds it (data parallel), else the model's
    states (weights, gradients, optimizer) split across the GPUs under FSDP, with each GPU's own activations and
    overhead, which do not split (what a launch picks when one GPU is too small; jobs.recipes.distributed)."""
    n = max(1, flavor.gpu_count)
    if n == 1 or estimate.total_gb <= flavor.vram_per_gpu_gb:
        return estimate.total_gb
    states = estimate.weights_gb + estimate.gradients_gb + estimate.optimizer_gb
    return (states / n + estimate.activations_gb + estimate.overhead_gb) * SAFETY_MARGIN


def fits(flavor: Flavor, *, memory_gb: float, params: float | None = None,
         estimate: MemoryEstimate | None = None) -> bool:
    """Whether `flavor` holds a job needing `memory_gb`: on each GPU (see per_gpu_gb, given the `estimate`; without
    it, in the flavor's total VRAM), or for a tiny model on CPU, in its RAM."""
    if flavor.is_gpu:
        if estimate is not None:
            return per_gpu_gb(estimate, flavor) <= flavor.vram_per_gpu_gb
        return memory_gb <= flavor.vram_gb
    return params is not None and params <= CPU_MAX_PARAMS and memory_gb <= flavor.ram_gb


def recommend(*, memory_gb: float, flavors: Iterable[Flavor], timeout_s: float,
              params: float | None = None, estimate: MemoryEstimate | None = None) -> list[Recommendation]:
    """The flavors that hold `memory_gb`, cheapest first, with what `timeout_s` of each costs.

    GPU flavors fit when each GPU holds its share (given the `estimate`; else when their total VRAM holds it). CPU flavors are offered only for tiny models
    (`params` given and at most CPU_MAX_PARAMS) whose estimate fits in their RAM; see the module docstring.
    Equal prices go to the flavor with fewer GPUs (no sharding needed), then keep the order given. The flavors
    are taken as given: filter on `runnable` first to keep only what a backend can run.

    Raises:
        InvalidJobSpec: memory_gb or timeout_s not a positive number (field names the argument).

    Example:
        >>> need = estimate_memory(params=7e9, method="qlora").total_gb
        >>> recommend(memory_gb=need, flavors=all_flavors(), timeout_s=3600)[0].flavor.name  # doctest: +SKIP
        't4-small'
    """
    _positive(memory_gb, "memory_gb")
    _positive(timeout_s, "timeout_s")
    if params is not None:
        _positive(params, "params")
    fitting = [f for f in flavors if fits(f, memory_gb=memory_gb, params=params, estimate=estimate)]
    fitting.sort(key=lambda f: (f.price_per_hour, f.gpu_count))
    return [Recommendation(flavor=f, cost_usd=f.cost(timeout_s)) for f in fitting]
