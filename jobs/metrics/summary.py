"""Summaries of a job's curves: trend, best, plateau, divergence, the learning-rate schedule, and a verdict."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from trl_jobs_mcp.jobs.metrics.models import Goal, MetricsReport, Series, SeriesSummary


def goal_of(name: str) -> Goal | None:
    """Whether lower or higher is better for a series of that name, or None when neither (lr, grad_norm, ...)."""
    lowered = name.lower()
    if lowered.endswith("loss") or "perplexity" in lowered:
        return "min"
    if "std" in lowered or "kl" in lowered.split("/") or lowered.startswith("kl"):
        return None
    if "reward" in lowered or "accurac" in lowered or "margin" in lowered:
        return "max"
    return None


def _fmt(value: float | None) -> str:
    if value is None:
        return "NaN"
    return f"{value:.4g}"


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def summarize(series: Series, *, window: int | None = None, flat_tolerance: float = 0.01,
              min_plateau_points: int = 6, step_word: str = "step") -> SeriesSummary:
    """Last, best, trend over the last window, NaN, divergence and plateau for one series.

    The trend is the least-squares slope over the last `window` points (default a third, at least 3), times the
    window's span, relative to the window's level (or a tenth of the series' range when the level is near zero).
    Below `flat_tolerance` it is flat; flat with at least `min_plateau_points` points is a plateau.
    """
    goal = goal_of(series.name)
    pairs = series.points()
    non_finite = [s for s, v in zip(series.steps, series.values, strict=True) if v is None]
    summary = SeriesSummary(name=series.name, count=len(series.values), goal=goal, non_finite=len(non_finite),
                            first_non_finite_step=non_finite[0] if non_finite else None)
    if series.steps:
        summary.last_step = series.steps[-1]
        summary.last = series.values[-1]
    if not pairs:
        summary.diverged = bool(non_finite)
        summary.text = f"{series.name}: no finite values" + (" (NaN/inf)" if non_finite else "")
        return summary
    values = [v for _, v in pairs]
    summary.first = values[0]
    summary.min, summary.max = min(values), max(values)
    if goal is not None:
        pick = min if goal == "min" else max
        best_step, best = pick(pairs, key=lambda p: p[1])
        summary.best, summary.best_step = best, best_step

    n = len(pairs)
    if n >= 3:
        size = min(n, max(3, window or math.ceil(n / 3)))
        tail = pairs[-size:]
        xs, ys = [float(s) for s, _ in tail], [v for _, v in tail]
        span = xs[-1] - xs[0]
        change = _slope(xs, ys) * span if span else ys[-1] - ys[0]
        scale = max(abs(sum(ys) / len(ys)), 0.1 * (summary.max - summary.min), 1e-12)
        relative = change / scale
        summary.relative_change = relative
        summary.trend = "flat" if abs(relative) < flat_tolerance else ("decreasing" if relative < 0 else "increasing")
        summary.plateau = summary.trend == "flat" and n >= min_plateau_points
        before = pairs[:-size]
        if summary.plateau and len(before) >= 2 and span:
            # A curve that is merely slowing down is not flat yet: its recent rate must also be small next to
            # the rate it had before the window.
            xs_before = [float(s) for s, _ in before]
            earlier = _slope(xs_before, [v for _, v in before])
            earlier_moved = abs(earlier * (xs_before[-1] - xs_before[0])) / scale >= flat_tolerance
            summary.plateau = not earlier_moved or abs(change / span) <= 0.25 * abs(earlier)
        if goal == "min" and n >= 4:
            early = values[:-size] or values[:1]
            early_min = min(early)
            late = sum(ys) / len(ys)
            # Climbed back by more than half its level or half the improvement it had made: not noise.
            summary.diverged = late - early_min > 0.5 * max(abs(early_min), abs(values[0] - early_min), 1e-8)
    summary.diverged = summary.diverged or bool(non_finite)
    summary.text = _series_text(summary, step_word=step_word)
    return summary


def _series_text(s: SeriesSummary, span: str = "", *, step_word: str = "step") -> str:
    text = f"{s.name} {_fmt(s.first)} -> {_fmt(s.last)}{span}"
    if s.best is not None and s.best != s.last:
        text += f" (best {_fmt(s.best)} at {step_word} {s.best_step})"
    if s.trend is not None:
        if s.plateau:
            text += f", flattened (changed {abs(s.relative_change or 0):.1%} over the last window)"
        elif s.trend == "flat":
            text += ", flat"
        else:
            still = "still " if (s.goal == "min") == (s.trend == "decreasing") and s.goal else ""
            text += f", {still}{s.trend}"
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
        intercept = sum(after) / len(after) - slope * sum(xs) / len(xs)
        residual = max(abs(y - (intercept + slope * x)) for x, y in zip(xs, after, strict=True))
        shape = "linear decay" if residual <= 0.02 * (max(after) - min(after)) else "non-linear decay (e.g. cosine)"
    return f"warmup then {shape}" if warmup else shape


def _main_series(names: Iterable[str]) -> str | None:
    names = list(names)
    for preferred in ("loss", "train_loss", "reward", "eval_loss"):
        if preferred in names:
            return preferred
    return next((n for n in names if n.endswith("loss")), None)


def build_report(series: dict[str, Series], *, final: dict[str, float] | None = None,
                 source: Literal["logs", "trackio", "none"] = "logs", step_unit: Literal["step", "log"] = "step",
                 total_steps: int | None = None, window: int | None = None,
                 flat_tolerance: float = 0.01) -> MetricsReport:
    """Summaries and a one-paragraph verdict for a set of series."""
    word = "step" if step_unit == "step" else "log line"
    summaries = {name: summarize(s, window=window, flat_tolerance=flat_tolerance, step_word=word)
                 for name, s in series.items()}
    main = _main_series(series)
    last_step = max((s.steps[-1] for s in series.values() if s.steps), default=None)
    # A NaN train_loss would reach JSON as null where a number is promised; the series already say NaN.
    final = {k: v for k, v in (final or {}).items() if math.isfinite(v)}
    report = MetricsReport(source=source, series=series, summaries=summaries, final=final, main=main,
                           last_step=last_step, total_steps=total_steps, step_unit=step_unit)
    report.has_nan = any(s.non_finite for s in summaries.values())
    report.diverged = bool(main and summaries[main].diverged) or report.has_nan
    report.plateau = bool(main and summaries[main].plateau)
    report.text = _report_text(report)
    return report


def _report_text(report: MetricsReport) -> str:
    if not report.series:
        return "No metrics logged yet (no training log lines found)."
    parts: list[str] = []
    unit = "steps" if report.step_unit == "step" else "log lines"
    if report.main:
        main = report.summaries[report.main]
        span = f" over {report.last_step} {unit}" if report.last_step else ""
        if report.total_steps and report.step_unit == "step":
            span += f" (of {report.total_steps})"
        parts.append(_series_text(main, span, step_word="step" if report.step_unit == "step" else "log line"))
    for name in report.summaries:
        if name != report.main and (name.startswith("eval_") and name.endswith("loss") or goal_of(name) == "max"
                                    and "/" not in name):
            parts.append(report.summaries[name].text)
    if "learning_rate" in report.series:
        lr = report.summaries["learning_rate"]
        shape = lr_schedule_shape(report.series["learning_rate"].values)
        parts.append(f"learning_rate {_fmt(lr.first)} -> {_fmt(lr.last)}" + (f", {shape}" if shape else ""))
    if "grad_norm" in report.summaries and report.summaries["grad_norm"].last is not None:
        parts.append(f"grad_norm last {_fmt(report.summaries['grad_norm'].last)}")
    bad = [s for s in report.summaries.values() if s.non_finite]
    if bad:
        first = min(s.first_non_finite_step or 0 for s in bad)
        names = ", ".join(s.name for s in bad[:4])
        word = "step" if report.step_unit == "step" else "log line"
        parts.append(f"NaN/inf in {names} from {word} {first}: training has broken down")
    elif report.diverged:
        parts.append(f"{report.main} diverged")
    else:
        parts.append("no NaN or divergence")
    if report.plateau:
        parts.append(f"{report.main} has flattened")
    text = "; ".join(parts) + "."
    if report.final:
        done = ", ".join(f"{k} {_fmt(report.final[k])}" for k in ("train_loss", "train_runtime") if k in report.final)
        text += f" Training finished ({done})." if done else " Training finished."
    return text
