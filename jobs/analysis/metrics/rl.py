"""GRPO and RLOO: what their curves say, in the order that matters.

The reward is what they optimise, so it leads, verdict first ("no clear trend" before "+16.3%"). Their loss is a
policy-gradient surrogate that sits near zero by design: it is named as such, never a headline. Two things make a
reward curve say little, and are called out: completions cut at max_completion_length (TRL logs the share as
`completions/clipped_ratio`), and a learning rate too small over too few steps to move the policy.
"""

from __future__ import annotations

from .models import MetricsReport, SeriesSummary
from .trainers import PROFILES

# Half the completions or more cut at max_completion_length: they end mid-answer and mostly score alike.
CLIPPED_RATIO = 0.5
# The learning rate summed over the steps run (its area): below this the policy has hardly moved from the model
# it started as (1e-6 for 100 steps is the edge; GRPO runs commonly take 1e-6 to 1e-5 over hundreds of steps).
MIN_LR_STEPS = 1e-4
NEAR_ZERO = 1e-2


def judges_loss(trainer: str | None) -> bool:
    profile = PROFILES.get(trainer or "")
    return profile is None or profile.judged_loss


def _fmt(value: float | None) -> str:
    return "NaN" if value is None else f"{value:.4g}"


def reward_headline(s: SeriesSummary, span: str) -> str:
    """'No clear trend in the reward (within the noise, ±0.05): reward 0.3 -> 0.35 (+16.3%) over 40 steps'."""
    if s.points < 2:
        return f"{s.name} {_fmt(s.last)} at one logged point{span}: no verdict yet"
    if s.trend is None:
        verdict = f"Too few points for a verdict on the {s.name}"
    elif s.monotonic:
        verdict = f"The {s.name} {'rose' if s.trend == 'increasing' else 'fell'} at every logged point"
    elif s.plateau:
        verdict = f"The {s.name} has flattened"
    elif s.trend == "flat":
        verdict = f"No clear trend in the {s.name} (its changes are within the noise, ±{_fmt(s.noise)})"
    else:
        verdict = f"The {s.name} is {'rising' if s.trend == 'increasing' else 'falling'} beyond the noise"
    pct = f" ({s.change_pct:+.3g}%)" if s.change_pct is not None and s.change else ""
    best = f", best {_fmt(s.best)} at step {s.best_step}" if s.best is not None and s.best != s.last else ""
    return f"{verdict}: {s.name} {_fmt(s.first)} -> {_fmt(s.last)}{pct}{span}{best}"


def surrogate_loss(s: SeriesSummary) -> str:
    near = "near zero by design, " if s.last is not None and abs(s.last) < NEAR_ZERO else ""
    return f"loss {_fmt(s.last)}, the policy-gradient surrogate: {near}not a measure of progress (the reward is)"


def flags(report: MetricsReport) -> list[str]:
    """What makes this run's reward curve say little: clipped completions, a policy that barely moved."""
    found = []
    clipped = report.series.get("completions/clipped_ratio")
    recent = [v for v in (clipped.values[-3:] if clipped else []) if v is not None]
    if recent and sum(recent) / len(recent) >= CLIPPED_RATIO:
        found.append(f"{sum(recent) / len(recent):.0%} of the completions hit max_completion_length "
                     "(completions/clipped_ratio): they are cut mid-answer and score alike, so the reward cannot "
                     "improve; raise max_completion_length, or ask for shorter answers in the prompt")
    lr = report.series.get("learning_rate")
    if lr is not None and lr.steps and report.step_unit == "step":
        area, before = 0.0, 0
        for step, value in zip(lr.steps, lr.values, strict=True):
            area += (value or 0.0) * max(step - before, 0)
            before = step
        top = max((v for v in lr.values if v is not None), default=0.0)
        if 0 < area < MIN_LR_STEPS:
            found.append(f"learning_rate x steps is only {area:.2g} (at most {top:.2g} over {lr.steps[-1]} steps): "
                         "too little to move the policy, so the reward's changes are mostly sampling noise; raise "
                         "learning_rate (GRPO commonly 1e-6 to 1e-5) or run many more steps")
    return found
