"""The forecast (jobs.forecast): steps, tokens and cost from a run's settings, with known answers."""

from __future__ import annotations

import pytest

from trl_jobs_mcp.jobs.core.flavors import billed_cost, get_flavor
from trl_jobs_mcp.jobs.analysis.forecast import Calibration, RunSettings, forecast, size_band, steps_of


@pytest.mark.parametrize(("rows", "batch", "accum", "procs", "steps"), [
    (1000, 8, 1, 1, 125), (1000, 8, 4, 1, 32), (1000, 8, 4, 2, 16), (1001, 8, 1, 1, 126), (3, 8, 4, 1, 1),
])
def test_steps_per_epoch_follow_batch_accumulation_and_gpus(rows: int, batch: int, accum: int, procs: int,
                                                            steps: int) -> None:
    assert steps_of(examples=rows, per_device_batch=batch, grad_accum=accum, processes=procs) == steps


def test_epochs_max_steps_and_tokens() -> None:
    base = RunSettings(params=5e8, rows=1000, tokens_per_row=300, per_device_batch=8, epochs=2)
    f = forecast(settings=base, flavor=get_flavor("a10g-large"))
    assert (f.steps_per_epoch, f.total_steps, f.tokens) == (125, 250, 2000 * 300)
    capped = forecast(settings=base.model_copy(update={"max_length": 100}), flavor=get_flavor("a10g-large"))
    assert capped.tokens == 2000 * 100
    stepped = forecast(settings=base.model_copy(update={"max_steps": 10}), flavor=get_flavor("a10g-large"))
    assert (stepped.total_steps, stepped.tokens, stepped.epochs) == (10, 10 * 8 * 300, 0.08)


def test_packing_and_online_rl_count_their_examples() -> None:
    packed = RunSettings(params=5e8, rows=1000, tokens_per_row=256, max_length=1024, packing=True, epochs=1)
    assert forecast(settings=packed, flavor=get_flavor("a100-large")).total_steps == 32  # 250 blocks / 8
    grpo = RunSettings(trainer="grpo", params=5e8, rows=100, tokens_per_row=50, num_generations=4,
                       max_completion_length=64, per_device_batch=8, epochs=1)
    f = forecast(settings=grpo, flavor=get_flavor("a10g-large"))
    assert (f.total_steps, f.generated_tokens) == (50, 400 * 64)
    assert any("generation-bound" in b for b in f.basis)


def test_cost_is_price_times_duration_and_pessimistic_is_longer() -> None:
    settings = RunSettings(params=7e9, rows=10_000, tokens_per_row=800, per_device_batch=4, epochs=1)
    for name in ("a100-large", "h200", "cpu-basic"):
        flavor = get_flavor(name)
        f = forecast(settings=settings, flavor=flavor)
        assert f.seconds_pessimistic > f.seconds_likely > 0
        assert f.cost_likely_usd == round(billed_cost(flavor.price_per_hour, f.seconds_likely), 4)
        assert f.cost_pessimistic_usd == round(billed_cost(flavor.price_per_hour, f.seconds_pessimistic), 4)
    # A faster GPU finishes the same run sooner; LoRA does less work than a full fine-tune.
    assert forecast(settings=settings, flavor=get_flavor("h200")).seconds_likely < forecast(
        settings=settings, flavor=get_flavor("a100-large")).seconds_likely
    lora = settings.model_copy(update={"method": "lora"})
    assert forecast(settings=lora, flavor=get_flavor("h200")).train_seconds < forecast(
        settings=settings, flavor=get_flavor("h200")).train_seconds


def test_a_calibration_replaces_the_first_guess_and_says_so() -> None:
    settings = RunSettings(params=5e8, rows=1000, tokens_per_row=300, epochs=1)
    guess = forecast(settings=settings, flavor=get_flavor("a10g-large"))
    cal = Calibration(runs=3, flavor="a10g-large", speed_factor=2.0, startup_s=60.0, spread=1.2)
    f = forecast(settings=settings, flavor=get_flavor("a10g-large"), calibration=cal)
    assert f.calibrated == "calibrated from 3 of your runs on a10g-large"
    assert f.train_seconds == pytest.approx(2 * guess.first_guess_train_seconds, rel=1e-3)
    assert f.seconds_likely == pytest.approx(60 + f.train_seconds, abs=0.2)
    assert size_band(5e8) == "100M-1B" and size_band(7e9) == "3B-10B"


def test_the_eta_comes_from_this_runs_own_progress_bar() -> None:
    from trl_jobs_mcp.jobs.analysis.forecast import eta_text
    from trl_jobs_mcp.jobs.analysis.metrics.logs import LogParser, eta_seconds

    parser = LogParser()
    assert eta_seconds(parser) is None  # no bar yet: no ETA rather than a guess
    parser.feed([" 10%|#         | 10/100 [00:20<03:00,  2.00s/it]", " 40%|####      | 40/100 [01:20<02:00,  2.00s/it]"])
    assert eta_seconds(parser) == (120.0, 2.0)  # 60 steps left at 80 s / 40 steps
    assert eta_text(120.0, 2.0) == "ETA 2m (2 s/step measured)"
    parser.feed(["100%|##########| 100/100 [03:20<00:00,  2.00s/it]"])
    assert eta_seconds(parser) is None  # done
