"""A rerun that changes TRL arguments, or continues a finished training run to more steps.

A continuation resumes from the run's newest checkpoint with a larger `max_steps`: the global step goes on from the
checkpoint's, and the entry module says so in the log ("resumed at global step N"), so that every step shown is
the run's global step. transformers recomputes the learning-rate schedule for the new total, so a decaying schedule
jumps back up at the resume point; the answer says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.models import InvalidJobSpec, JobSpec
from ..recipes.argv import option_value
from ..recipes.outcome import read_outcome
from ..recipes.request import closest

_NOT_CHANGED = ("output_dir", "resume_from_checkpoint", "model_name_or_path", "dataset_name")


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _argv(spec: JobSpec) -> list[str]:
    return list(spec.command or spec.script_args)


def with_options(spec: JobSpec, options: dict[str, Any]) -> JobSpec:
    """`spec` with each `--name` set to its value: replaced where the command has it, appended where not."""
    argv = _argv(spec)
    for name, value in options.items():
        word = f"--{name}={_format(value)}"
        spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
        at = next((i for i, w in enumerate(argv) if w.partition("=")[0] in spellings), None)
        if at is None:
            argv.append(word)
        elif "=" in argv[at]:
            argv[at] = word
        else:  # `--name value`: both words become one
            argv[at:at + 2] = [word]
    return spec.model_copy(update={"command": argv} if spec.command else {"script_args": argv})


def check_names(changes: dict[str, Any], table: dict[str, Any] | None) -> dict[str, Any]:
    """The changes by TRL name, each known to the trainer's argument table (when there is one)."""
    named = {k.lstrip("-").replace("-", "_"): v for k, v in changes.items()}
    for name in named:
        if name in _NOT_CHANGED:
            raise InvalidJobSpec(f"{name!r} is not changed by a rerun; launch_training starts a new run on other "
                                 "data or another model.", field="args")
        if table is not None and name not in table:
            near = closest(name, list(table))
            hint = f" Did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            raise InvalidJobSpec(f"{name!r} is not an argument of the job's TRL trainer.{hint}", field="args")
    return named


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def continue_to(spec: JobSpec, *, job_id: str, checkpoint: Path | None, output_dir: str | None,
                more_steps: int | None, changes: dict[str, Any]) -> tuple[JobSpec, list[str]]:
    """The resumed run's spec with its new max_steps, and what to tell the user.

    Raises:
        InvalidJobSpec: (more_steps) the run already trained all its steps and nothing asks for more.
    """
    argv = _argv(spec)
    planned = _int(option_value(argv, "max_steps"))
    outcome = read_outcome(output_dir)
    reached = outcome.global_step if outcome else (int(checkpoint.name.split("-")[1]) if checkpoint else None)
    total = _int(str(changes["max_steps"])) if "max_steps" in changes else None
    if more_steps is not None:
        if total is not None:
            raise InvalidJobSpec("give either more_steps or args max_steps (the new total), not both.",
                                 field="more_steps")
        base = reached if reached is not None else planned
        if base is None:
            raise InvalidJobSpec("the job's command sets no max_steps, so more steps cannot be counted from it; "
                                 "pass args={'max_steps': <new total>} instead.", field="more_steps")
        total = base + more_steps
    if total is None and reached is not None and planned is not None and reached >= planned:
        raise InvalidJobSpec(f"job {job_id} already trained all its max_steps={planned} (it reached step {reached}); "
                             f"resuming would train nothing. Pass more_steps (e.g. more_steps={max(1, planned // 2)}) "
                             f"or args={{'max_steps': {planned + max(1, planned // 2)}}}.", field="more_steps")
    notes: list[str] = []
    if total is not None:
        if reached is not None and total <= reached:
            raise InvalidJobSpec(f"max_steps={total} is not beyond step {reached}, where job {job_id} stopped.",
                                 field="more_steps" if more_steps is not None else "args")
        spec = with_options(spec, {"max_steps": total})
        start = f"step {reached}" if reached is not None else "its last checkpoint"
        notes.append(f"Continues from {start} to step {total} (steps are the run's global steps).")
        schedule = (option_value(_argv(spec), "lr_scheduler_type") or "linear").lower()
        if not schedule.startswith("constant"):
            notes.append(f"The learning-rate schedule ({schedule}) is recomputed for the new total of {total} steps: "
                         f"at {start} the rate goes back up to what a {total}-step run has there, then decays again. "
                         "Set args lr_scheduler_type='constant' to keep it flat.")
    return spec, notes
