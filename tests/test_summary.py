"""jobs.metrics.summary on known series: each figure as defined, and each misreading an assistant was given
(issue 11: "flat" for a loss that fell at every step, -1.67 for a learning rate, GRPO's loss "diverged", a noisy
6-point curve "still increasing", one point summarised as a trend, a decayed learning rate taken for convergence)."""

from __future__ import annotations

import math

import pytest

from trl_jobs_mcp.jobs.analysis.metrics import Series, build_report, summarize
from trl_jobs_mcp.jobs.analysis.metrics.trainers import goal_of, lead_series, shown_series


def _series(values: list[float], name: str = "loss", stride: int = 1) -> Series:
    return Series(name=name, steps=[stride * (i + 1) for i in range(len(values))], values=list(values))


def test_a_loss_that_fell_at_every_logged_step_is_decreasing_not_flat() -> None:
    values = [5.779, 5.768, 5.757, 5.745, 5.734, 5.723]
    s = summarize(_series(values, stride=4))
    assert s.trend == "decreasing" and s.monotonic and not s.plateau and s.points == 6
    assert s.first == 5.779 and s.last == 5.723 and s.best == 5.723 and s.best_step == 24
    assert s.change == pytest.approx(-0.056) and s.change_pct == pytest.approx(-0.969, abs=1e-3)
    assert "decreasing at every logged point (6 points)" in s.text and "-0.969%" in s.text
    report = build_report({"loss": _series(values, stride=4)}, trainer="sft")
    assert "flat" not in report.text and "plateau" not in report.text and not report.plateau


def test_relative_change_of_a_learning_rate_is_its_change_in_percent() -> None:
    lr = [2e-5 * (1 - i / 24) for i in range(1, 25)]  # linear decay to zero
    s = summarize(_series(lr, name="learning_rate"))
    assert s.goal is None and s.change_pct == pytest.approx(100 * (lr[-1] - lr[0]) / lr[0])
    assert -100 <= s.change_pct <= 0  # type: ignore[operator]


def test_grpo_loss_near_zero_is_not_judged_and_reward_leads() -> None:
    loss = [0.0, 0.02, -0.01, 0.03, 0.0, 0.05, -0.02, 0.04, 0.06, 0.01]
    reward = [0.1, 0.15, 0.2, 0.22, 0.3, 0.35, 0.33, 0.45, 0.5, 0.55]
    series = {"loss": _series(loss), "reward": _series(reward, name="reward"),
              "reward_std": _series([0.2] * 10, name="reward_std")}
    report = build_report(series, trainer="grpo")
    assert report.main == "reward" and not report.diverged
    loss_summary = report.summaries["loss"]
    assert loss_summary.goal is None and not loss_summary.diverged and loss_summary.change_pct is None
    assert report.text.startswith("reward 0.1 -> 0.55") and "diverged" not in report.text
    # Even with the trainer unknown, a loss bouncing around zero within its noise is not a divergence.
    assert not summarize(_series(loss)).diverged


def test_a_noisy_six_point_curve_has_no_clear_trend() -> None:
    s = summarize(_series([0.2, 0.5, 0.3, 0.6, 0.35, 0.55], name="reward"))
    assert s.trend == "flat" and s.trend_points == 6 and s.noise and s.noise > 0.1
    assert "increasing" not in s.text and "no clear trend" in s.text


def test_a_clear_rise_beyond_the_noise_is_a_trend() -> None:
    s = summarize(_series([0.1, 0.12, 0.11, 0.13, 0.12, 0.3, 0.32, 0.31, 0.33, 0.34], name="reward"))
    assert s.trend == "increasing" and not s.monotonic and "beyond the noise" in s.text


def test_one_logged_point_is_no_trend() -> None:
    s = summarize(_series([5.78], name="loss"))
    assert s.trend is None and s.points == 1 and s.change == 0
    assert "one logged point: no trend yet" in s.text
    report = build_report({"loss": _series([5.78], stride=10)})
    assert "one logged point" in report.text and "decreasing" not in report.text and "flat" not in report.text
    two = summarize(_series([5.78, 5.70]))
    assert two.trend is None and "too few for a trend" in two.text


def _flattening(n: int = 60) -> list[float]:
    return [2.0 + 4.0 * math.exp(-i / 6) + 0.01 * ((-1) ** i) for i in range(n)]


def test_a_decayed_learning_rate_is_told_apart_from_convergence() -> None:
    loss = _series(_flattening())
    decayed = _series([1e-4 * (1 - i / 60) for i in range(60)], name="learning_rate")
    constant = _series([1e-4] * 60, name="learning_rate")
    ran_out = build_report({"loss": loss, "learning_rate": decayed}, trainer="sft")
    assert ran_out.plateau and ran_out.lr_near_zero
    assert "decayed to about zero" in ran_out.text and "not the same as converged" in ran_out.text
    converged = build_report({"loss": loss, "learning_rate": constant}, trainer="sft")
    assert converged.plateau and not converged.lr_near_zero and "converged at this setting" in converged.text


def test_plateau_is_flat_now_after_progress_beyond_the_noise() -> None:
    assert summarize(_series(_flattening())).plateau
    early = summarize(_series(_flattening()[:12]))
    assert not early.plateau and early.trend == "decreasing"
    smooth = [2.0 + 4.0 * math.exp(-i / 8) for i in range(90)]  # monotone, but its tail has stopped moving
    assert summarize(_series(smooth)).plateau and summarize(_series(smooth)).trend == "flat"
    straight = [100 - 0.05 * i for i in range(60)]
    assert not summarize(_series(straight)).plateau
    level = [1.0 + 0.002 * ((-1) ** i) for i in range(30)]  # never improved: flat, nothing flattened
    assert summarize(_series(level)).trend == "flat" and not summarize(_series(level)).plateau


def test_divergence_is_a_loss_climbing_far_above_its_early_minimum() -> None:
    assert summarize(_series([6, 5, 4, 3, 2.5, 2.4, 3, 5, 7, 9])).diverged
    assert summarize(_series([1, 2, 3, 4, 5, 6])).diverged
    # A blow-up in six steps (a learning rate of 1.0): its own huge steps are not the noise it is measured against.
    assert summarize(_series([6.013, 32.65, 45.23, 37.29, 31.67, 24.32])).diverged
    # Issue 21: the same blow-up on another machine's arithmetic. Five changes, and the climb (24.8) sat under three
    # times the robust noise (32.9): a loss that grew 4.8x and stayed there was summarised "no divergence".
    assert summarize(_series([6.013, 32.65, 45.15, 35.38, 28.13, 28.82])).diverged
    # A dip below the usual level, then back to it: the last window is not twice the dip, and no divergence.
    assert not summarize(_series([2.1, 1.2, 2.0, 2.2, 1.9])).diverged
    # A loss near zero that wobbles at several times its minimum has not diverged: the climb is tiny next to the
    # improvement it made.
    assert not summarize(_series([0.69, 0.1, 0.01, 0.002, 0.008, 0.009, 0.007])).diverged
    assert not summarize(_series([6, 5, 4, 3, 2.5, 2.4, 2.45, 2.5, 2.42, 2.44])).diverged
    assert not summarize(_series([0, 1, 2, 3, 4, 5], name="reward")).diverged


@pytest.mark.parametrize(("trainer", "logged", "lead", "shown"), [
    ("dpo", ["loss", "rewards/chosen", "rewards/accuracies", "rewards/margins", "logps/chosen", "learning_rate"],
     "loss", ["loss", "rewards/accuracies", "rewards/margins", "learning_rate"]),
    ("kto", ["loss", "kl", "rewards/chosen", "rewards/rejected", "logits/chosen"],
     "loss", ["loss", "kl", "rewards/chosen", "rewards/rejected"]),
    ("grpo", ["loss", "reward", "reward_std", "rewards/short/mean", "rewards/short/std", "kl", "entropy"],
     "reward", ["reward", "rewards/short/mean", "reward_std", "kl", "loss"]),
    ("rloo", ["loss", "reward", "reward_std", "kl"], "reward", ["reward", "reward_std", "kl", "loss"]),
    ("reward", ["loss", "accuracy", "margin", "eval_loss", "eval_accuracy", "mean_reward"],
     "eval_accuracy", ["accuracy", "eval_accuracy", "margin", "loss", "eval_loss"]),
    ("sft", ["loss", "mean_token_accuracy", "num_tokens", "entropy", "grad_norm"],
     "loss", ["loss", "mean_token_accuracy", "grad_norm"]),
])
def test_each_trainer_leads_with_what_matters(trainer: str, logged: list[str], lead: str, shown: list[str]) -> None:
    assert lead_series(logged, trainer=trainer) == lead
    assert shown_series(logged, trainer=trainer) == shown
    series = {name: _series([0.5, 0.6, 0.7], name=name) for name in logged}
    report = build_report(series, trainer=trainer)
    assert report.main == lead and report.text.startswith(lead)
    for name in shown:
        if name not in (lead, "learning_rate", "grad_norm"):
            assert name in report.text


def test_goals_fit_the_trainer() -> None:
    assert goal_of("loss", trainer="grpo") is None and goal_of("loss", trainer="dpo") == "min"
    assert goal_of("rewards/rejected") == "min" and goal_of("rewards/margins") == "max"
    assert goal_of("reward_std") is None and goal_of("kl") is None and goal_of("eval_accuracy") == "max"
