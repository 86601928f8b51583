"""Reading TRL's command line back: an option's value as argparse sees it, and what a job's command says about
its metrics (logging_steps, whether it reports to trackio). The recipe writes that command line; this reads it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def find_option(args: Sequence[str], name: str) -> tuple[int, str] | None:
    """(index of the value, value) of `--name` in either `--name=v` or `--name v` form, last one winning."""
    found = None
    spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
    for i, word in enumerate(args):
        flag, eq, value = word.partition("=")
        if flag in spellings:
            if eq:
                found = (i, value)
            elif i + 1 < len(args):
                found = (i + 1, args[i + 1])
    return found


def option_value(argv: Sequence[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` (or `--na-me`) in an argv, the last one winning; else None."""
    found = find_option(argv, name)
    return found[1] if found else None


def logging_steps_from_command(argv: Sequence[str]) -> float | None:
    """The `--logging_steps` a job's command passes, or None."""
    raw = option_value(argv, "logging_steps")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def trackio_target(argv: Sequence[str]) -> tuple[str, str | None] | None:
    """(project, run name) when a job's command reports to trackio, else None.

    transformers' defaults apply: project "huggingface"; no run name means "the run that logged last".
    """
    report_to: list[str] = []
    collecting = False
    for arg in argv:  # `--report_to trackio wandb` takes several values
        if arg.startswith("--"):
            collecting = arg == "--report_to"
            if arg.startswith("--report_to="):
                report_to.append(arg.split("=", 1)[1])
        elif collecting:
            report_to.append(arg)
    if not any(v.strip() in ("trackio", "all") for value in report_to for v in value.split(",")):
        return None
    return option_value(argv, "project") or "huggingface", option_value(argv, "run_name")
