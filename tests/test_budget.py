"""Budget questions through recommend_hardware: flavors within a budget with their forecast, and the largest model
of a family within it (sizes from the Hub's model list, or a built-in table said so)."""

from __future__ import annotations

import pytest
from fake_hf_jobs import FakeHFJobs
from fake_viewer import viewer_dataset
from mcp_client import call, hf_client

pytestmark = pytest.mark.anyio


def _hub(fake: FakeHFJobs) -> None:
    fake.viewer["trl-lib/Capybara"] = viewer_dataset("trl-lib/Capybara", splits={"train": (15_806, {"text": 4800.0})})
    fake.models = ["Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct",
                   "Qwen/Qwen2.5-72B", "Qwen/Qwen2.5-Math-1.5B"]


async def test_the_largest_model_of_a_family_within_a_budget_in_one_call(fake_hf: FakeHFJobs) -> None:
    _hub(fake_hf)
    async with hf_client(fake_hf) as client:
        text, data = await call(client, "recommend_hardware", family="Qwen/Qwen2.5", dataset="trl-lib/Capybara",
                                budget_usd=20, method="full")
        _, broke = await call(client, "recommend_hardware", family="Qwen/Qwen2.5", dataset="trl-lib/Capybara",
                              budget_usd=0.01, method="full")
    pick = data["family_pick"]
    assert pick["sizes"] == [0.5e9, 1.5e9, 7e9, 72e9] and "the Hub's Qwen models" in pick["sizes_source"]
    assert pick["model"] in ("Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-1.5B", "Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-72B")
    assert pick["forecast"]["cost_likely_usd"] <= 20
    assert f"Largest of the family within the budget: {pick['model']}" in text
    assert data["model"] == pick["model"]  # the rest of the answer is about that model
    assert broke["family_pick"]["model"] is None


async def test_flavors_within_a_budget_with_duration_cost_and_the_assumed_batch(fake_hf: FakeHFJobs) -> None:
    _hub(fake_hf)
    async with hf_client(fake_hf) as client:
        text, data = await call(client, "recommend_hardware", model="Qwen/Qwen2.5-7B", method="lora",
                                dataset="trl-lib/Capybara", budget_usd=5, batch_size=2, max_length=2048)
    runs = data["runs"]
    assert runs and all(r["within_budget"] == (r["forecast"]["cost_likely_usd"] <= 5) for r in runs)
    assert all(r["forecast"]["steps_per_epoch"] == 7903 for r in runs if r["flavor"] in ("a10g-large", "h200"))
    assert "Forecast per flavor" in text and "dataset viewer's /size" in text
    assert "per_device_train_batch_size=2 max_length=2048" in text
