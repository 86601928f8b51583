"""Booleans are not numbers here: pydantic's lax mode reads `true` as 1 (`run_job(timeout=true)` became a one-second
job, `max_steps=true` one step). A boolean is accepted only where the field's type names bool."""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from .errors import InvalidJobSpec


def refuse_bool_numbers(*, model: type[BaseModel], data: Any) -> None:
    """Raise InvalidJobSpec naming the first argument in `data` that holds a boolean where its type takes none."""
    if not isinstance(data, dict):
        return
    for name, value in data.items():
        field = model.model_fields.get(str(name))
        if field is not None and (found := _bool_at(field.annotation, value, str(name))):
            path, kinds = found
            raise InvalidJobSpec(f"got a boolean ({str(_data_at(data, path)).lower()}); this field takes {kinds}, "
                                 "never true or false. Send the number itself.", field=path)


def _data_at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _members(annotation: Any) -> list[Any]:
    """`annotation` as the plain types it admits: Annotated unwrapped, unions flattened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _bool_at(annotation: Any, value: Any, path: str) -> tuple[str, str] | None:
    members = _members(annotation)
    if isinstance(value, bool):
        if any(m is bool or m is Any or m is object or (get_origin(m) is Literal and any(
                isinstance(a, bool) for a in get_args(m))) for m in members):
            return None
        kinds = " or ".join(dict.fromkeys(
            "text" if m is str else "a number" for m in members if m in (int, float, str))) or "another type"
        return path, kinds
    if isinstance(value, list):
        items = [get_args(m)[0] for m in members if get_origin(m) in (list, tuple, set) and get_args(m)]
        for i, item in enumerate(value):
            for inner in items:
                if found := _bool_at(inner, item, f"{path}.{i}"):
                    return found
    if isinstance(value, dict):
        inners = [get_args(m)[1] for m in members if get_origin(m) is dict and len(get_args(m)) == 2]
        for key, item in value.items():
            for inner in inners:
                if found := _bool_at(inner, item, f"{path}.{key}"):
                    return found
    return None
