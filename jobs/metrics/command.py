"""What a job's command line says about its metrics: logging_steps, and whether it reports to trackio."""

from __future__ import annotations

import math
from collections.abc import Sequence


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in an argv (the last one wins, as argparse does)."""
    found = None
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            found = arg.split("=", 1)[1]
    return found


def logging_steps_from_command(argv: Sequence[str]) -> float | None:
    """The `--logging_steps` a job's command passes, or None."""
    raw = _option(argv, "logging_steps")
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
    return _option(argv, "project") or "huggingface", _option(argv, "run_name")
