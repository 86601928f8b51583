"""A sweep: one training request and a small grid of TRL argument values, expanded into one request per run.

The runs of a sweep share an experiment label (EXPERIMENT_LABEL); the jobs are the record, and nothing else stores
an experiment (compare reads the jobs that carry the label).
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from pydantic import ValidationError

from ..core.models import InvalidJobSpec
from .request import TrainingRequest

EXPERIMENT_LABEL = "experiment"
MAX_RUNS = 16
# What a sweep may not vary: what the runs are (trainer, model, dataset) and where each writes.
_FIXED = ("trainer", "model", "dataset", "output_dir", "extra_args", "hub_model_id", "push_to_hub")


def new_experiment_id() -> str:
    """A short id for a new experiment, fit for a label on every backend."""
    return f"exp-{secrets.token_hex(3)}"


def expand(request: TrainingRequest, grid: dict[str, list[Any]]) -> list[tuple[dict[str, Any], TrainingRequest]]:
    """Each run of the grid: (the values it sets, by TRL name, the request with them). A name that is a field of
    the request sets the field; any other goes to extra_args, where the recipe checks it against TRL's table.

    Raises:
        InvalidJobSpec: (field sweep) an empty or fixed argument, too many runs, or a value out of its field's bounds.
    """
    if not grid:
        raise InvalidJobSpec("is empty; give at least one argument and its values, e.g. "
                             "{'learning_rate': [1e-4, 3e-4, 1e-3]}.", field="sweep")
    names = [key.lstrip("-").replace("-", "_") for key in grid]
    for name, values in zip(names, grid.values(), strict=True):
        if name in _FIXED:
            raise InvalidJobSpec(f"cannot vary {name!r}; sweep TRL training arguments such as learning_rate. Launch "
                                 "separately for another model or dataset.", field="sweep")
        if not values:
            raise InvalidJobSpec(f"{name!r} has no values; give at least one.", field="sweep")
    total = 1
    for values in grid.values():
        total *= len(values)
    if total > MAX_RUNS:
        raise InvalidJobSpec(f"the grid makes {total} runs; at most {MAX_RUNS}. Drop some values.", field="sweep")
    if request.extra_args is not None and not isinstance(request.extra_args, dict):
        raise InvalidJobSpec("a sweep adds to extra_args by name: give extra_args as an object, not command-line "
                             "words.", field="extra_args")
    runs = []
    for combo in itertools.product(*grid.values()):
        chosen = dict(zip(names, combo, strict=True))
        fields = {k: v for k, v in chosen.items() if k in TrainingRequest.model_fields}
        extra = {k: v for k, v in chosen.items() if k not in fields}
        data = {k: getattr(request, k) for k in TrainingRequest.model_fields if getattr(request, k) is not None}
        data.update(fields)
        if extra:
            data["extra_args"] = {**(request.extra_args or {}), **extra}  # type: ignore[dict-item]
        try:
            run = TrainingRequest.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise InvalidJobSpec(f"{where}: {error['msg']} (got {error.get('input')!r}).", field="sweep") from None
        runs.append((chosen, run))
    return runs
