"""The memory estimate, the parameter count from config.json, and the cheapest flavors that fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trl_jobs_mcp.jobs.analysis.estimate import (
    CPU_MAX_PARAMS,
    SAFETY_MARGIN,
    MemoryEstimate,
    estimate_memory,
    fits,
    params_from_config,
    per_gpu_gb,
    recommend,
    shape_from_config,
)
from trl_jobs_mcp.jobs.core.flavors import CATALOG, Flavor, all_flavors, get_flavor
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec

# config.json shapes of public models, with their parameter counts as transformers counts them (5.24, meta device;
# see test_counts_agree_with_transformers).
CONFIGS: dict[str, tuple[dict, int]] = {
    "Qwen2-0.5B": ({"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                    "tie_word_embeddings": True}, 494_032_768),
    "Llama-2-7B": ({"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                    "tie_word_embeddings": False}, 6_738_415_616),
    "Llama-3-70B": ({"model_type": "llama", "vocab_size": 128256, "hidden_size": 8192, "intermediate_size": 28672,
                     "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
                     "tie_word_embeddings": False}, 70_553_706_496),
    "Mistral-7B-v0.3": ({"model_type": "mistral", "vocab_size": 32768, "hidden_size": 4096,
                         "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
                         "num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": False}, 7_248_023_552),
    "Qwen3-0.6B": ({"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
                    "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
                    "tie_word_embeddings": True}, 596_049_920),
    "Mixtral-8x7B": ({"model_type": "mixtral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                      "num_local_experts": 8, "tie_word_embeddings": False}, 46_702_792_704),
    "Qwen1.5-MoE-A2.7B": ({"model_type": "qwen2_moe", "vocab_size": 151936, "hidden_size": 2048,
                           "intermediate_size": 5632, "moe_intermediate_size": 1408,
                           "shared_expert_intermediate_size": 5632, "num_experts": 60, "num_hidden_layers": 24,
                           "num_attention_heads": 16, "num_key_value_heads": 16, "tie_word_embeddings": False},
                          14_315_784_192),
    "llama-with-biases": ({"model_type": "llama", "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
                           "num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2,
                           "head_dim": 64, "attention_bias": True, "mlp_bias": True, "tie_word_embeddings": False},
                          2_683_392),
}

TINY_TRUE_COUNT = 99_648  # jobs.tiny's Qwen2, counted by transformers


# --- params_from_config ---


def test_the_tiny_model_config(tiny: dict[str, Path]) -> None:
    config = json.loads((tiny["model"] / "config.json").read_text())
    assert params_from_config(config) == pytest.approx(TINY_TRUE_COUNT, rel=0.03)
    shape = shape_from_config(config)
    assert (shape.hidden_size, shape.num_layers, shape.vocab_size) == (64, 2, config["vocab_size"])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_public_model_configs(name: str) -> None:
    config, true_count = CONFIGS[name]
    assert params_from_config(config) == pytest.approx(true_count, rel=0.001)


def test_counts_agree_with_transformers(tiny: dict[str, Path]) -> None:
    # The numbers above, and the tiny model's, are what transformers itself counts: built on the meta device (no
    # memory, no download) in a child process, so this process never imports torch.
    script = (
        "import json, sys, torch\n"
        "from transformers import AutoConfig, AutoModelForCausalLM\n"
        "configs, tiny = json.loads(sys.argv[1]), sys.argv[2]\n"
        "counts = {}\n"
        "for name, cfg in configs.items():\n"
        "    with torch.device('meta'):\n"
        "        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg))\n"
        "    counts[name] = sum(p.numel() for p in model.parameters())\n"
        "model = AutoModelForCausalLM.from_pretrained(tiny)\n"
        "counts['tiny'] = sum(p.numel() for p in model.parameters())\n"
        "print(json.dumps(counts))\n"
    )
    configs = {name: config for name, (config, _) in CONFIGS.items()}
    out = subprocess.run([sys.executable, "-c", script, json.dumps(configs), str(tiny["model"])],
                         capture_output=True, text=True, timeout=240, check=True)
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts == {**{name: true for name, (_, true) in CONFIGS.items()}, "tiny": TINY_TRUE_COUNT}


def test_a_vision_language_config_counts_its_language_model() -> None:
    text, true_count = CONFIGS["Qwen2-0.5B"]
    nested = {"model_type": "qwen2_vl", "tie_word_embeddings": True, "vision_config": {"depth": 32},
              "text_config": {k: v for k, v in text.items() if k not in ("model_type", "tie_word_embeddings")}}
    # qwen2_vl's language model has the same q/k/v biases as qwen2
    assert params_from_config(nested) == pytest.approx(true_count, rel=0.001)


def test_a_config_without_tie_word_embeddings_counts_an_untied_head() -> None:
    config = {k: v for k, v in CONFIGS["Llama-2-7B"][0].items() if k != "tie_word_embeddings"}
    assert params_from_config(config) == CONFIGS["Llama-2-7B"][1]


@pytest.mark.parametrize("config", [
    {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257},
    {**CONFIGS["Qwen2-0.5B"][0], "hidden_size": 0},
    {**CONFIGS["Qwen2-0.5B"][0], "num_hidden_layers": "24"},
    [1, 2, 3],
])
def test_a_config_it_cannot_read_says_to_give_params(config) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        params_from_config(config)
    assert info.value.field == "config"
    if isinstance(config, dict):
        assert "params" in str(info.value)


# --- estimate_memory ---


def _fitting(estimate: MemoryEstimate, *, params: float | None = None) -> list[str]:
    return [r.flavor.name for r in recommend(memory_gb=estimate.total_gb, flavors=all_flavors(), timeout_s=3600,
                                             params=params)]


def test_7b_full_fine_tune_does_not_fit_one_a100() -> None:
    estimate = estimate_memory(params=7e9, method="full")
    assert estimate.weights_gb + estimate.gradients_gb + estimate.optimizer_gb == pytest.approx(112, rel=0.01)
    assert 115 < estimate.total_gb < 160
    assert not fits(get_flavor("a100-large"), memory_gb=estimate.total_gb)
    assert fits(get_flavor("a100x4"), memory_gb=estimate.total_gb)


def test_7b_qlora_fits_a_24gb_gpu() -> None:
    shape = shape_from_config(CONFIGS["Llama-2-7B"][0])
    estimate = estimate_memory(method="qlora", **shape.model_dump())
    assert 5 < estimate.total_gb < 16
    names = _fitting(estimate)
    assert {"a10g-small", "l4x1"} <= set(names)


def test_7b_lora_in_bf16_fits_24gb_but_not_16gb() -> None:
    estimate = estimate_memory(params=7e9, method="lora")
    assert 16 < estimate.total_gb <= 24
    assert "a10g-small" in _fitting(estimate) and "t4-small" not in _fitting(estimate)


def test_half_billion_full_fine_tune_fits_a_t4() -> None:
    estimate = estimate_memory(method="full", **shape_from_config(CONFIGS["Qwen2-0.5B"][0]).model_dump())
    assert 8 < estimate.total_gb <= 16
    assert _fitting(estimate)[0] == "t4-small"


def test_70b_qlora_needs_more_than_48gb() -> None:
    estimate = estimate_memory(method="qlora", **shape_from_config(CONFIGS["Llama-3-70B"][0]).model_dump())
    assert 48 < estimate.total_gb < 80
    names = _fitting(estimate)
    assert names[0] == "a100-large"
    assert "l40sx1" not in names


def test_guessing_the_shape_lands_near_the_real_one() -> None:
    for name in ("Qwen2-0.5B", "Llama-2-7B", "Llama-3-70B"):
        config, params = CONFIGS[name]
        for method in ("full", "lora", "qlora"):
            exact = estimate_memory(method=method, **shape_from_config(config).model_dump())
            guessed = estimate_memory(params=params, method=method)
            assert guessed.total_gb == pytest.approx(exact.total_gb, rel=0.15), (name, method)
            assert "guessed" in guessed.formula and "guessed" not in exact.formula


def test_the_parts_add_up_and_the_formula_shows_them() -> None:
    estimate = estimate_memory(params=1.5e9, method="lora", hidden_size=1536, num_layers=28, vocab_size=151936)
    parts = (estimate.weights_gb + estimate.gradients_gb + estimate.optimizer_gb + estimate.activations_gb
             + estimate.overhead_gb)
    assert estimate.total_gb == pytest.approx(parts * 1.2)
    assert estimate.trainable_params == 18 * 16 * 1536 * 28
    assert f"{estimate.total_gb:.1f} GB" in estimate.formula
    assert "lora" in estimate.formula and "151936 vocab" in estimate.formula


def test_methods_order_full_lora_qlora() -> None:
    full, lora, qlora = (estimate_memory(params=3e9, method=m).total_gb for m in ("full", "lora", "qlora"))
    assert full > 2 * lora > 2 * qlora


def test_longer_batches_and_no_checkpointing_need_more() -> None:
    base = estimate_memory(params=1e9, method="full")
    assert estimate_memory(params=1e9, method="full", max_length=4096).activations_gb > 3 * base.activations_gb
    assert estimate_memory(params=1e9, method="full", batch_size=8).activations_gb > 7 * base.activations_gb
    assert estimate_memory(params=1e9, method="full", gradient_checkpointing=False).activations_gb \
        > base.activations_gb
    bigger_rank = estimate_memory(params=1e9, method="lora", lora_r=64)
    assert bigger_rank.trainable_params == 4 * estimate_memory(params=1e9, method="lora").trainable_params


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"params": 0}, "params"), ({"params": -1e9}, "params"), ({"params": float("nan")}, "params"),
    ({"params": 1e9, "method": "dora"}, "method"), ({"params": 1e9, "max_length": 0}, "max_length"),
    ({"params": 1e9, "batch_size": 1.5}, "batch_size"), ({"params": 1e9, "hidden_size": -4}, "hidden_size"),
    ({"params": 1e9, "lora_r": True}, "lora_r"),
])
def test_bad_arguments_name_their_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        estimate_memory(**{"method": "full", **kwargs})
    assert info.value.field == field


# --- recommend ---


def test_cheapest_first_with_the_cost_of_the_timeout() -> None:
    recs = recommend(memory_gb=30, flavors=all_flavors(), timeout_s=2 * 3600)
    prices = [r.flavor.price_per_hour for r in recs]
    assert prices == sorted(prices)
    assert recs[0].flavor.name == "l40sx1"  # the cheapest GPU with more than 24 GB
    assert recs[0].cost_usd == pytest.approx(3.60)
    flavor, cost = recs[1]  # a plain (flavor, cost) pair too
    assert isinstance(flavor, Flavor) and cost == pytest.approx(flavor.price_per_hour * 2)
    assert all(r.flavor.vram_gb >= 30 for r in recs)
    assert not any(r.flavor.vram_gb < 30 for r in recs)


def test_every_fitting_flavor_is_offered_and_no_other() -> None:
    need = 100.0
    offered = {r.flavor.name for r in recommend(memory_gb=need, flavors=all_flavors(), timeout_s=60)}
    assert offered == {f.name for f in CATALOG.values() if f.is_gpu and f.vram_gb >= need}


def test_a_multi_gpu_flavor_fits_only_when_each_gpu_holds_its_share() -> None:
    """A model trial: a 32B full fine-tune was offered a100x8 (640 GB in all) while each A100 needed 80.5 GB of its
    80 (the states split eight ways, each GPU's activations whole), and the hint would have paid for an OOM."""
    need = estimate_memory(params=32e9, method="full", max_length=2048, batch_size=2)
    a100x8 = get_flavor("a100x8")
    assert need.total_gb < a100x8.vram_gb  # the old rule: total VRAM
    share = per_gpu_gb(need, a100x8)
    assert share == pytest.approx((need.weights_gb + need.gradients_gb + need.optimizer_gb) / 8 * SAFETY_MARGIN
                                  + (need.activations_gb + need.overhead_gb) * SAFETY_MARGIN)
    offered = {r.flavor.name for r in recommend(memory_gb=need.total_gb, flavors=all_flavors(), timeout_s=60,
                                                estimate=need)}
    assert all(per_gpu_gb(need, get_flavor(name)) <= get_flavor(name).vram_per_gpu_gb for name in offered)
    assert ("a100x8" in offered) == (share <= 80)
    # One GPU that holds it all: its need is the whole estimate.
    small = estimate_memory(params=0.5e9, method="lora")
    assert per_gpu_gb(small, get_flavor("a10g-largex2")) == small.total_gb


def test_equal_prices_prefer_fewer_gpus() -> None:
    # h200 (1 GPU) and a10g-largex4 (4 GPUs) both cost $5.00 an hour and hold 90 GB.
    names = [r.flavor.name for r in recommend(memory_gb=90, flavors=reversed(all_flavors()), timeout_s=60)]
    assert names.index("h200") < names.index("a10g-largex4")


def test_nothing_fits_gives_an_empty_list() -> None:
    assert recommend(memory_gb=5000, flavors=all_flavors(), timeout_s=60) == []


def test_cpu_flavors_only_for_tiny_models() -> None:
    need = 2.0
    tiny = [r.flavor.name for r in recommend(memory_gb=need, flavors=all_flavors(), timeout_s=600, params=1e5)]
    assert tiny[:2] == ["cpu-basic", "cpu-upgrade"]  # cheapest first, and CPU flavors are the cheapest
    assert "t4-small" in tiny
    at_limit = recommend(memory_gb=need, flavors=all_flavors(), timeout_s=600, params=CPU_MAX_PARAMS)
    assert at_limit[0].flavor.name == "cpu-basic"
    for params in (CPU_MAX_PARAMS * 1.01, 5e8, None):
        names = [r.flavor.name for r in recommend(memory_gb=need, flavors=all_flavors(), timeout_s=600,
                                                  params=params)]
        assert names and not any(n.startswith("cpu-") for n in names), params


def test_a_tiny_model_too_big_for_a_cpu_flavors_ram_skips_it() -> None:
    names = [r.flavor.name for r in recommend(memory_gb=20, flavors=all_flavors(), timeout_s=600, params=1e6)]
    assert "cpu-basic" not in names and names[0] == "cpu-upgrade"


def test_the_tiny_model_end_to_end(tiny: dict[str, Path]) -> None:
    shape = shape_from_config(json.loads((tiny["model"] / "config.json").read_text()))
    estimate = estimate_memory(method="full", max_length=128, batch_size=2, **shape.model_dump())
    recs = recommend(memory_gb=estimate.total_gb, flavors=all_flavors(), timeout_s=1800, params=shape.params)
    assert recs[0].flavor.name == "cpu-basic"
    assert recs[0].cost_usd == pytest.approx(0.005)


def test_only_the_flavors_given_are_considered() -> None:
    runnable_here = [f for f in all_flavors() if not f.is_gpu]
    assert recommend(memory_gb=10, flavors=runnable_here, timeout_s=60, params=1e9) == []
    assert [r.flavor.name for r in recommend(memory_gb=10, flavors=runnable_here, timeout_s=60, params=1e6)] \
        == [f.name for f in runnable_here]


@pytest.mark.parametrize(("kwargs", "field"), [({"memory_gb": 0}, "memory_gb"), ({"timeout_s": -5}, "timeout_s"),
                                               ({"params": 0}, "params"),
                                               ({"memory_gb": float("inf")}, "memory_gb")])
def test_recommend_refuses_bad_numbers(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidJobSpec) as info:
        recommend(**{"memory_gb": 10, "flavors": all_flavors(), "timeout_s": 60, **kwargs})
    assert info.value.field == field
