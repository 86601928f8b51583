"""Summaries of a job's curves, and a verdict that fits the trainer.

Each figure of a SeriesSummary is defined here, once:

- points: the finite values the figures rest on (`count` also counts NaN/inf).
- first, last, min, max: of the finite values; best: the min (or max) for a series with a goal.
- change: last - first; change_pct: that in percent of |first|, or None when first is too close to zero for a
  percentage to mean anything (GRPO's surrogate loss starts at 0).
- trend, over windows against noise: with 3 or more points, a series that moved the same way at every logged step
  is decreasing or increasing however little it moved (unless its last window holds under 5% of its whole change:
  then it has flattened). Otherwise the mean of the last window (a third of the points,
  at least 2) is compared with the mean of the window before it; the noise is the spread of the step-to-step changes
  (their standard deviation over sqrt 2, so a steady slope is not counted as noise). A difference beyond twice its
  standard error is a trend; within it, "flat". `trend_points` says how many points that comparison used.
- plateau: a series with a goal that improved beyond noise from its first window to its last and is flat now.
- diverged: NaN/inf, or a loss whose last window sits far above its earlier minimum (by more than half its level or
  half the improvement it had made), and either beyond three times the noise (taken here from the median absolute
  deviation of the changes, so that the blow-up itself does not count as noise) or with every point of that window
  at twice the minimum or more (a blow-up that stayed: in a short run its own steps are all the noise there is).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from .models import MetricsReport, Series, SeriesSummary
from .trainers import goal_of, lead_series, shown_series

# A learning rate at or below this share of its peak has decayed "to about zero": a loss that stops moving then has
# run out of schedule, which is not the same as having converged.
LR_NEAR_ZERO = 0.05
# A series that moved the same way at every step still counts as moving while its last window holds at least this
# share of its whole change; below it, it has all but stopped (the tail of an exponential).
MONOTONIC_SHARE = 0.05
# A positive loss whose whole last window sits at this multiple of its early minimum or more has diverged.
DIVERGED_FACTOR = 2.0


def _fmt(value: float | None) -> str:
    return "NaN" if value is None else f"{value:.4g}"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = _mean(xs), _mean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def _robust_noise(diffs: Sequence[float]) -> float:
    """The spread of one step's change from the median absolute deviation of the changes: a blow-up's few huge
    steps do not count as noise, as they would in a standard deviation."""
    ordered = sorted(diffs)
    middle = ordered[len(ordered) // 2]
    deviations = sorted(abs(d - middle) for d in diffs)
    return 1.4826 * deviations[len(deviations) // 2] / math.sqrt(2)


def _window(n: int) -> int:
    return max(2, min(n // 2, max(3, n // 3)))


def _beyond_noise(difference: float, noise: float, width: int) -> bool:
    """Whether the difference of two window means exceeds twice its standard error."""
    if noise == 0:
        return difference != 0
    return abs(difference) > 2 * noise * math.sqrt(2 / width)


def summarize(series: Series, *, trainer: str | None = None, step_word: str = "step") -> SeriesSummary:
    """Every figure of one series (see the module's docstring for their definitions) and a sentence."""
    goal = goal_of(series.name, trainer=trainer)
    pairs = series.points()
    non_finite = [s for s, v in zip(series.steps, series.values, strict=True) if v is None]
    summary = SeriesSummary(name=series.name, count=len(series.values), points=len(pairs), goal=goal,
                            non_finite=len(non_finite), first_non_finite_step=non_finite[0] if non_finite else None)
    if series.steps:
        summary.last_step = series.steps[-1]
        summary.last = series.values[-1]
    if not pairs:
        summary.diverged = bool(non_finite)
        summary.text = f"{series.name}: no finite values" + (" (NaN/inf)" if non_finite else "")
        return summary
    values = [v for _, v in pairs]
    summary.first, summary.min, summary.max = values[0], min(values), max(values)
    if goal is not None:
        best_step, best = (min if goal == "min" else max)(pairs, key=lambda p: p[1])
        summary.best, summary.best_step = best, best_step
    last = values[-1]
    summary.change = last - values[0]
    scale = max(abs(v) for v in values)
    if abs(values[0]) > 1e-3 * scale and values[0] != 0:
        summary.change_pct = 100 * summary.change / abs(values[0])

    n = len(values)
    if n >= 3:
        diffs = [b - a for a, b in zip(values, values[1:], strict=False)]
        width = _window(n)
        monotonic = all(d < 0 for d in diffs) or all(d > 0 for d in diffs)
        if monotonic and abs(values[-1] - values[-1 - width]) >= MONOTONIC_SHARE * abs(values[-1] - values[0]):
            summary.trend = "decreasing" if diffs[0] < 0 else "increasing"
            summary.monotonic = True
            summary.trend_points = n
        elif monotonic:
            # Still moving the same way, but its last window holds a negligible share of the whole move.
            summary.trend, summary.trend_points, summary.noise = "flat", 2 * width, 0.0
            summary.plateau = goal is not None and n >= 6 and (diffs[0] < 0) == (goal == "min")
        else:
            recent, before = values[-width:], values[-2 * width:-width]
            noise = _std(diffs) / math.sqrt(2)
            summary.noise = noise
            summary.trend_points = 2 * width
            difference = _mean(recent) - _mean(before)
            if _beyond_noise(difference, noise, width):
                summary.trend = "decreasing" if difference < 0 else "increasing"
            else:
                summary.trend = "flat"
            if goal is not None and n >= 6 and summary.trend == "flat":
                overall = _mean(recent) - _mean(values[:width])
                improved = overall < 0 if goal == "min" else overall > 0
                summary.plateau = improved and _beyond_noise(overall, noise, width)
        if goal == "min" and n >= 4:
            early_min = min(values[:-width])
            climb = _mean(values[-width:]) - early_min
            # A blow-up that stayed (every point of the last window at least twice the early minimum) is a
            # divergence however few points it has: with five changes, the blow-up's own steps make the noise.
            stayed_up = early_min > 0 and min(values[-width:]) >= DIVERGED_FACTOR * early_min
            summary.diverged = (climb > 0.5 * max(abs(early_min), values[0] - early_min, 1e-8)
                                and (stayed_up or climb > 3 * _robust_noise(diffs)))
    summary.diverged = summary.diverged or bool(non_finite)
    summary.text = series_text(summary, step_word=step_word)
    return summary


def series_text(s: SeriesSummary, span: str = "", *, step_word: str = "step") -> str:
    """'loss 5.779 -> 5.723 (-0.969%) over 24 steps, decreasing at every logged point (6 points)', and so on."""
    if s.points == 0:
        return s.text or f"{s.name}: no finite values"
    if s.points == 1:
        return f"{s.name} {_fmt(s.last)} at {step_word} {s.last_step}{span} (one logged point: no trend yet)"
    pct = f" ({s.change_pct:+.3g}%)" if s.change_pct is not None and s.change else ""
    text = f"{s.name} {_fmt(s.first)} -> {_fmt(s.last)}{pct}{span}"
    if s.best is not None and s.best != s.last:
        text += f" (best {_fmt(s.best)} at {step_word} {s.best_step})"
    if s.trend is None:
        text += f", {s.points} points: too few for a trend"
    elif s.monotonic:
        text += f", {s.trend} at every logged point ({s.points} points)"
    elif s.min == s.max:
        text += ", constant"
    elif s.plateau:
        half = (s.trend_points or 0) // 2
        text += f", flattened: the last {half} points are level with the {half} " \
                f"before them (noise ±{_fmt(s.noise)})"
    elif s.trend == "flat":
        text += f", no clear trend over the last {s.trend_points} points (changes within the noise, " \
                f"±{_fmt(s.noise)})"
    else:
        still = "still " if s.goal and (s.goal == "min") == (s.trend == "decreasing") else ""
        text += f", {still}{s.trend} over the last {s.trend_points} points (beyond the noise, ±{_fmt(s.noise)})"
    if s.non_finite:
        text += f", {s.non_finite} NaN/inf from {step_word} {s.first_non_finite_step}"
    elif s.diverged:
        text += ", diverged (far above its early minimum)"
    return text


def lr_schedule_shape(values: Sequence[float | None]) -> str | None:
    """'constant', 'linear decay', 'warmup then linear decay', 'non-linear decay (e.g. cosine)', 'warmup', ..."""
    ys = [v for v in values if v is not None]
    if len(ys) < 2:
        return None
    top = max(ys)
    if top == 0 or (top - min(ys)) <= 1e-3 * abs(top):
        return "constant"
    peak = ys.index(top)
    if peak == len(ys) - 1 and ys[0] < top:
        return "warmup"
    warmup = peak > 0 and ys[0] < 0.9 * top
    after = ys[peak:]
    if any(b > a * (1 + 1e-6) for a, b in zip(after, after[1:], strict=False)):
        return "varying"
    if len(after) < 3:
        shape = "decay"
    else:
        xs = list(range(len(after)))
        slope = _slope(xs, after)
        intercept = _mean(after) - slope * _mean(xs)
        residual = max(abs(y - (intercept + slope * x)) for x, y in zip(xs, after, strict=True))
        shape = "linear decay" if residual <= 0.02 * (max(after) - min(after)) else "non-linear decay (e.g. cosine)"
    return f"warmup then {shape}" if warmup else shape


def build_report(series: dict[str, Series], *, final: dict[str, float] | None = None,
                 source: Literal["logs", "trackio", "none"] = "logs", step_unit: Literal["step", "log"] = "step",
                 total_steps: int | None = None, trainer: str | None = None) -> MetricsReport:
    """Summaries and a one-paragraph verdict for a set of series, led by what matters for `trainer`."""
    word = "step" if step_unit == "step" else "log line"
    summaries = {name: summarize(s, trainer=trainer, step_word=word) for name, s in series.items()}
    main = lead_series(series, trainer=trainer)
    last_step = max((s.steps[-1] for s in series.values() if s.steps), default=None)
    # A NaN train_loss would reach JSON as null where a number is promised; the series already say NaN.
    final = {k: v for k, v in (final or {}).items() if math.isfinite(v)}
    report = MetricsReport(source=source, series=series, summaries=summaries, final=final, main=main,
                           last_step=last_step, total_steps=total_steps, step_unit=step_unit, trainer=trainer)
    report.has_nan = any(s.non_finite for s in summaries.values())
    report.diverged = bool(main and summaries[main].diverged) or report.has_nan
    report.plateau = bool(main and summaries[main].plateau)
    lr = [v for v in series["learning_rate"].values if v is not None] if "learning_rate" in series else []
    report.lr_near_zero = bool(lr) and max(lr) > 0 and lr[-1] <= LR_NEAR_ZERO * max(lr)
    report.text = _report_text(report)
    return report


def _report_text(report: MetricsReport) -> str:
    if not report.series:
        return "No metrics logged yet (no training log lines found)."
    parts: list[str] = []
    unit = "steps" if report.step_unit == "step" else "log lines"
    word = "step" if report.step_unit == "step" else "log line"
    if report.main:
        main = report.summaries[report.main]
        span = f" over {report.last_step} {unit}" if report.last_step and main.points > 1 else ""
        if span and report.total_steps and report.step_unit == "step":
            span += f" (of {report.total_steps})"
        parts.append(series_text(main, span, step_word=word))
    shown = shown_series(report.series, trainer=report.trainer)
    if shown is None:  # an unknown trainer: eval losses and top-level rewards and accuracies
        shown = [n for n in report.summaries if n.startswith("eval_") and n.endswith("loss")
                 or report.summaries[n].goal == "max" and "/" not in n]
    for name in shown:
        if name != report.main and name not in ("learning_rate", "grad_norm"):
            parts.append(report.summaries[name].text)
    if "learning_rate" in report.series:
        lr = report.summaries["learning_rate"]
        shape = lr_schedule_shape(report.series["learning_rate"].values)
        pct = f" ({lr.change_pct:+.3g}%)" if lr.change_pct is not None and lr.change else ""
        parts.append(f"learning_rate {_fmt(lr.first)} -> {_fmt(lr.last)}{pct}" + (f", {shape}" if shape else "")
                     + (", decayed to about zero" if report.lr_near_zero else ""))
    if "grad_norm" in report.summaries and report.summaries["grad_norm"].last is not None:
        parts.append(f"grad_norm last {_fmt(report.summaries['grad_norm'].last)}")
    bad = [s for s in report.summaries.values() if s.non_finite]
    if bad:
        first = min(s.first_non_finite_step or 0 for s in bad)
        parts.append(f"NaN/inf in {', '.join(s.name for s in bad[:4])} from {word} {first}: training has broken down")
    elif report.diverged:
        parts.append(f"{report.main} diverged")
    else:
        parts.append("no NaN or divergence")
    if report.plateau and report.lr_near_zero:
        parts.append(f"{report.main} stopped moving as the learning rate decayed to about zero: the schedule ran "
                     "out, which is not the same as converged")
    elif report.plateau:
        parts.append(f"{report.main} has flattened while the learning rate is still well above zero: converged at "
                     "this setting")
    text = "; ".join(parts) + "."
    if report.final:
        done = ", ".join(f"{k} {_fmt(report.final[k])}" for k in ("train_loss", "train_runtime") if k in report.final)
        text += f" Training finished ({done})." if done else " Training finished."
    return text
