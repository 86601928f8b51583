"""Timeouts, written as Hugging Face writes them ("90s", "30m", "1.5h", "2d"), and read back."""

from __future__ import annotations

import math
import re

from .errors import InvalidJobSpec


DEFAULT_TIMEOUT = "30m"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TIMEOUT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
TIMEOUT_FORMS = '"90s", "30m", "1.5h", "2d", or a number of seconds such as 600'
# The longest run we accept. Hugging Face Jobs bills by the minute and a timeout is the cost ceiling, so a
# timeout of ages (2**64 s was accepted once) is a typo, never a plan; a week covers any real fine-tune.
MAX_TIMEOUT_S = 7 * 86400


def parse_timeout(value: str | int | float | None, *, field: str = "timeout") -> float:
    """Turn a Hugging Face style duration into seconds.

    Args:
        value: `"90s"`, `"30m"`, `"1.5h"`, `"2d"`, a bare number of seconds (as a number or a string), or None for
            the default of 30 minutes.
        field: the field name to report in an error.

    Returns:
        The duration in seconds, positive and at most MAX_TIMEOUT_S (a week).

    Raises:
        InvalidJobSpec: zero, negative, over a week, or not one of the accepted forms.

    Example:
        >>> parse_timeout("1.5h")
        5400.0
    """
    if value is None:
        value = DEFAULT_TIMEOUT
    if isinstance(value, bool):
        raise InvalidJobSpec(f"expected a duration, got {value!r}. Use {TIMEOUT_FORMS}.", field=field)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _TIMEOUT_RE.match(str(value))
        if not match:
            raise InvalidJobSpec(f"cannot read {value!r} as a duration. Use {TIMEOUT_FORMS}.", field=field)
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidJobSpec(f"must be more than zero, got {value!r}. Use {TIMEOUT_FORMS}.", field=field)
    if seconds > MAX_TIMEOUT_S:
        raise InvalidJobSpec(f"{value!r} is longer than the most a job may run, {format_duration(MAX_TIMEOUT_S)}. "
                             f"Use {TIMEOUT_FORMS}, up to {format_duration(MAX_TIMEOUT_S)}.", field=field)
    return seconds


def format_duration(seconds: float) -> str:
    """A Hugging Face style spelling of a duration in its largest whole unit: 7200 -> "2h", 5400 -> "90m"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
