"""A log as a reader wants it: each progress bar at its last state, each repeated warning once with a count.

Libraries fill a training log with tqdm bars (one line per update when a log is read line by line, or many states
joined by carriage returns) and with the same warning at every step. Neither tells a reader more the second time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "Map:  40%|####      | 4/10 [00:01<00:02, 3.1it/s]" or "Generating train split: 64 examples [00:00, 8484 examples/s]":
# what comes before the count names the bar.
_BAR = re.compile(r"^(?P<name>.*?)\s*(?:\d{1,3}%\|[^|]*\|\s*\d+/\d+|\d+\s+\w+)\s*\[[^\]]*\]\s*$")
_LEADING_BAR = re.compile(r"^(?P<bar>.*?\d{1,3}%\|[^|]*\|\s*\d+/\d+\s*\[[^\]]*\])(?P<rest>.*)$")
_WARNING = re.compile(r"\b\w*Warning\b|^\s*warnings\.warn\(|\bWARNING\b|^\[?W\d{4}|\bwarn\(")


def last_state(line: str) -> str:
    """What a terminal shows for a line redrawn with carriage returns (and cursor-up escapes removed)."""
    line = _ANSI.sub("", line).rstrip("\r")
    return line[line.rfind("\r") + 1:]


def _bar_name(line: str) -> str | None:
    match = _BAR.match(line)
    return match.group("name").strip() if match else None


def _split_bar(line: str) -> list[str]:
    """A bar and what another stream wrote after it on the same line (a warning on stderr after tqdm's bar)."""
    match = _LEADING_BAR.match(line)
    if match and match.group("rest").strip():
        return [match.group("bar"), match.group("rest")]
    return [line]


def tidy_lines(lines: Sequence[str]) -> list[str]:
    """`lines` with each progress bar collapsed to its last state and each repeated warning line kept once, its
    first occurrence followed by "[repeated N times]" (without the source line Python prints under a warning).
    Blank lines go; other lines are kept as they are, in order.

    A bar is kept once, at its last state, where that state was written (a bar of the same name drawn again
    later, a second save's "Writing model shards", counts as the same bar).

    Example:
        >>> tidy_lines(["a:  10%|#  | 1/10 [00:01<00:09, 1it/s]", "a: 100%|###| 10/10 [00:10<00:00, 1it/s]",
        ...             "UserWarning: x", "{'loss': 1.0}", "UserWarning: x"])
        ['a: 100%|###| 10/10 [00:10<00:00, 1it/s]', 'UserWarning: x [repeated 2 times]', "{'loss': 1.0}"]
    """
    out: list[str | None] = []
    counts: dict[str, int] = {}
    where: dict[str, int] = {}
    bars: dict[str, int] = {}
    previous_warning = False
    for raw in lines:
        for line in _split_bar(last_state(raw)):
            name = _bar_name(line)
            if name is not None:
                if name in bars:
                    out[bars[name]] = None  # the same bar, further on: only its last state is kept
                bars[name] = len(out)
                out.append(line)
                previous_warning = False
                continue
            if not line.strip():
                continue  # a bar cleared to blanks, an empty line
            if previous_warning and line.startswith((" ", "\t")):
                continue  # the source line Python's warnings print under a warning: it tells nothing more
            is_warning = previous_warning = bool(_WARNING.search(line))
            if is_warning and line in where:
                counts[line] += 1
                continue
            if is_warning:
                where[line], counts[line] = len(out), 1
            out.append(line)
    for line, count in counts.items():
        if count > 1:
            out[where[line]] = f"{line} [repeated {count} times]"
    return [line for line in out if line is not None]
