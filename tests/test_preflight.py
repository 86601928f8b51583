"""Will it fit, how long, how much (jobs.preflight through launch_training): the dry run and the launch refuse
the same run that cannot fit, allow what fits, forecast from the dataset's real size, and flag a short timeout."""

from __future__ import annotations

import pytest
from fake_hf_jobs import FakeHFJobs
from fake_viewer import viewer_dataset
from mcp_client import call, call_error, hf_client

pytestmark = pytest.mark.anyio

SEVEN_B = dict(trainer="sft", model="Qwen/Qwen2.5-7B", dataset="trl-lib/Capybara", flavor="a100-large")


def _capybara(fake: FakeHFJobs) -> None:
    fake.viewer["trl-lib/Capybara"] = viewer_dataset(
        "trl-lib/Capybara", splits={"train": (15_806, {"text": 4800.0}), "test": (200, {"text": 4800.0})})


async def test_a_7b_full_fine_tune_on_one_80_gb_gpu_is_refused_by_dry_run_and_launch_alike(
        fake_hf: FakeHFJobs) -> None:
    _capybara(fake_hf)
    async with hf_client(fake_hf) as client:
        dry = await call_error(client, "launch_training", **SEVEN_B, dry_run=True)
        real = await call_error(client, "launch_training", **SEVEN_B)
    assert dry == real
    assert "flavor:" in dry and "a100-large has 80 GB" in dry and "run out of memory" in dry
    assert "use_peft=true (LoRA)" in dry and "QLoRA" in dry
    assert not fake_hf.posted_specs  # refused: nothing was created
    async with hf_client(fake_hf) as client:
        one = await call_error(client, "launch_training", **SEVEN_B, per_device_train_batch_size=1, dry_run=True)
    assert "flavor=h200 (1x H200, 141 GB, $5/h)" in one  # a larger flavor, with its price


async def test_a_smaller_batch_with_accumulation_is_offered_when_it_fits(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        text = await call_error(client, "launch_training", trainer="sft", model="Qwen/Qwen2.5-1.5B",
                                dataset="trl-lib/Capybara", flavor="t4-small", per_device_train_batch_size=16,
                                use_peft=True, dry_run=True)
    assert "per_device_train_batch_size=1 with gradient_accumulation_steps=16" in text


async def test_the_same_in_lora_is_accepted_with_a_forecast_from_the_datasets_size(fake_hf: FakeHFJobs) -> None:
    _capybara(fake_hf)
    async with hf_client(fake_hf) as client:
        text, data = await call(client, "launch_training", **SEVEN_B, use_peft=True, dry_run=True,
                                per_device_train_batch_size=4, timeout="2d")
    forecast = data["forecast"]
    assert forecast["steps_per_epoch"] == 3952 and forecast["total_steps"] == 3 * 3952  # ceil(15806 / 4), 3 epochs
    assert forecast["tokens"] == 3 * 15_806 * 1024  # 1200 tokens a row, capped by max_length 1024
    assert 0 < forecast["cost_likely_usd"] < forecast["cost_pessimistic_usd"]
    assert data["memory_gb"] < 80
    assert "Forecast on a100-large" in text and "dataset viewer's /size" in text
    assert "Timeout too short" not in text


async def test_a_timeout_shorter_than_the_forecast_is_flagged_with_one_that_fits(fake_hf: FakeHFJobs) -> None:
    _capybara(fake_hf)
    async with hf_client(fake_hf) as client:
        text, _ = await call(client, "launch_training", **SEVEN_B, use_peft=True, dry_run=True)
        pushed, _ = await call(client, "launch_training", **SEVEN_B, use_peft=True, dry_run=True, timeout="1h",
                               push_to_hub=True, hub_model_id="alice/qwen-capybara")
    assert "Timeout too short" in text and "the default timeout of 30m" in text and "Pass timeout='" in text
    assert "longer than the timeout of 1h" in pushed and "checkpoints pushed so far survive" in pushed
