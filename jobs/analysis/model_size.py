"""Where a model's parameter count comes from: as given, its config.json, the backend's look-up, the local Hugging
Face cache, or its name. The count feeds jobs.estimate (recommend_hardware's memory estimate).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .estimate import format_count, shape_from_config
from ..core.models import InvalidJobSpec

if TYPE_CHECKING:
    from ..backends.base import Backend

HUB_LOOKUP_SECONDS = 20
_SIZE = re.compile(r"(?:(\d+)x)?(\d+(?:\.\d+)?)\s*([BbMm])(?![A-Za-z0-9])")
_UNITS = {"b": 1e9, "m": 1e6}

ParamsSource = Literal["given", "config.json", "hub", "hub cache", "name"]


@dataclass(frozen=True)
class ParameterCount:
    """A parameter count, where it came from, the shape keywords estimate_memory takes, and notes for a reader."""

    count: float
    source: ParamsSource
    shape: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def parse_size(value: float | str) -> float:
    """7e9, '7e9', '7B', '1.5b', '500M', '8x7B' -> a parameter count."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip().replace("_", "").replace(",", "")
        match = _SIZE.fullmatch(text)
        try:
            number = float(text) if match is None else (
                float(match.group(2)) * _UNITS[match.group(3).lower()] * int(match.group(1) or 1))
        except ValueError:
            raise InvalidJobSpec(f"cannot read {value!r} as a parameter count; write 7e9, '7B' or '500M'.",
                                 field="params") from None
    if not math.isfinite(number) or number <= 0 or number > 1e13:
        raise InvalidJobSpec(f"{value!r} is not a parameter count between 1 and 1e13.", field="params")
    return number


def size_from_name(model: str) -> float | None:
    """The size a model's name states ('Llama-3.2-1B' -> 1e9, 'Mixtral-8x7B' -> 56e9), or None."""
    matches = list(_SIZE.finditer(model.rsplit("/", 1)[-1]))
    if not matches:
        return None
    last = matches[-1]
    return float(last.group(2)) * _UNITS[last.group(3).lower()] * int(last.group(1) or 1)


def _local_config(model: str) -> dict[str, Any] | None:
    path = Path(model).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.name != "config.json" or not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidJobSpec(f"{path} is not readable JSON ({exc.__class__.__name__}); give params instead.",
                             field="model") from None
    return config if isinstance(config, dict) else None


def _cached_config(model: str) -> dict[str, Any] | None:
    """config.json from the local Hugging Face cache, if a job or a download put it there. No network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, "config.json")
    except Exception:  # an id the cache cannot even spell (HFValidationError and the like)
        return None
    return _local_config(str(found)) if isinstance(found, str) else None


def _shape(config: dict[str, Any] | None, *, required: bool) -> tuple[dict[str, Any], float | None]:
    """estimate_memory's shape keywords and the parameter count from a config.json, when it has them."""
    if config is None:
        return {}, None
    try:
        found = shape_from_config(config)
    except InvalidJobSpec as exc:
        if required:
            raise InvalidJobSpec(str(exc).removeprefix("config: "), field="model") from None
        return {}, None
    return {"hidden_size": found.hidden_size, "num_layers": found.num_layers,
            "vocab_size": found.vocab_size}, found.params


async def find_parameter_count(*, model: str | None, params: float | str | None,
                               backend: Backend) -> ParameterCount:
    """A model's parameter count and where it came from, in this order: `params` as given; the model's local
    config.json (a folder or the file); the backend's look-up (`Backend.parameter_count`: the Hub, for hf); the
    local Hugging Face cache's config.json; the size its name states ("Qwen2.5-0.5B"), flagged as a guess.

    Raises:
        InvalidJobSpec: (field params or model) nothing gives the count, or `params` is not a count.
    """
    notes: list[str] = []
    config = _local_config(model) if model else None
    shape, count = _shape(config, required=params is None)
    if params is not None:
        return ParameterCount(parse_size(params), "given", shape, notes)
    if count is not None:
        return ParameterCount(count, "config.json", shape, notes)
    if not model:
        raise InvalidJobSpec("give the model (a Hub id or a local folder with config.json) or its parameter count "
                             "as params (e.g. 7e9 or '7B').", field="model")
    hub: float | None = None
    try:
        with anyio.fail_after(HUB_LOOKUP_SECONDS):
            hub = await backend.parameter_count(model)
    except Exception as exc:  # the look-up is a convenience: any failure falls through to the cache and name
        why = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else "no answer in time"
        notes.append(f"The Hub look-up of {model!r} failed ({exc.__class__.__name__}: {why}).")
    if hub:
        return ParameterCount(hub, "hub", shape, notes)
    shape, count = _shape(_cached_config(model), required=False)
    if count is not None:
        return ParameterCount(count, "hub cache", shape, notes)
    guessed = size_from_name(model)
    if guessed is not None:
        notes.append(f"The parameter count ({format_count(guessed)}) is read from the model's name and its "
                     "architecture (width, depth, vocabulary) assumed typical for that size, as no config.json was "
                     "read; pass params, or a local model folder, for an exact estimate.")
        return ParameterCount(guessed, "name", shape, notes)
    raise InvalidJobSpec(f"cannot find the parameter count of {model!r}: it is not a local folder with "
                         f"config.json, not in the local Hugging Face cache, and the {backend.name} backend has no "
                         "count for it. Give it as params (e.g. 7e9 or '7B'), or a local model folder.",
                         field="params")
