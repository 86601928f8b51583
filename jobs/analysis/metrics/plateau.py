"""When a curve has flattened: enough points, and a verdict that one more log line does not flip.

Compared by windows (the last third of the points against the third before it, as the trend is), a curve is on a
plateau when it improved beyond the noise from its first window to its last and its last two windows are level.
Two rules keep the verdict steady while a job runs:

- at least MIN_POINTS points: three against three (a flattened loss at step 14 of 40, gone later) is no evidence;
- hysteresis: a curve enters a plateau only when its last windows are level within ENTER standard errors (or its
  last window holds under 5% of its whole move), and leaves it only once they differ by more than STAY (or 10%).
  The verdict is followed through the last HISTORY lengths of the series, so it is the same whichever line a
  reader stops at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_POINTS = 10
HISTORY = 8
ENTER, STAY = 1.0, 3.0  # standard errors of the difference of two window means
ENTER_SHARE, STAY_SHARE = 0.05, 0.10


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _window(n: int) -> int:
    return max(2, min(n // 2, max(3, n // 3)))  # as the trend's windows (summary._window)


def _level(values: Sequence[float], goal: str, *, allowance: float, share: float) -> bool:
    n = len(values)
    width = _window(n)
    diffs = [b - a for a, b in zip(values, values[1:], strict=False)]
    mean = _mean(diffs)
    noise = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)) / math.sqrt(2)
    error = noise * math.sqrt(2 / width)
    recent, before = values[-width:], values[-2 * width:-width]
    overall = _mean(recent) - _mean(values[:width])
    if not ((overall < 0) if goal == "min" else (overall > 0)) or abs(overall) <= 2 * error:
        return False  # it never improved beyond the noise: flat from the start is not a plateau
    tail = abs(values[-1] - values[-1 - width]) < share * abs(values[-1] - values[0])
    return tail or abs(_mean(recent) - _mean(before)) <= allowance * error


def settled_plateau(values: Sequence[float], *, goal: str | None) -> bool:
    """Whether the finite `values` of a series with a `goal` ('min' or 'max') have flattened (see the module)."""
    if goal is None or len(values) < MIN_POINTS:
        return False
    state = False
    for n in range(max(MIN_POINTS, len(values) - HISTORY), len(values) + 1):
        state = _level(values[:n], goal, allowance=STAY if state else ENTER,
                       share=STAY_SHARE if state else ENTER_SHARE)
    return state
