"""A TrainingRequest written as TRL's command line: its typed fields, then extra_args, each checked against the
installed TRL's argument table (names, kinds, choices) so that a typo is refused before a job exists.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.flavors import Flavor
from ..core.models import InvalidJobSpec
from .request import CLI_NAMES, NOT_CLI, TrainingRequest, closest, did_you_mean
from .trl_args import ArgInfo

# GPUs older than Ampere have no bf16; TRL turns bf16 on by default and would stop at start-up on them.
_NO_BF16_GPUS = {"t4", "v100", "p100", "k80", "m60"}
_PRECISION_ARGS = ("bf16", "fp16", "use_cpu")


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # step counts are floats in TRL's schema; --logging_steps=10 reads better than 10.0
    return str(value)


def _option(name: str, value: Any, info: ArgInfo | None = None) -> list[str]:
    if isinstance(value, list):
        return [f"--{name}", *(_format(v) for v in value)]
    if info is not None and info["nargs"] == "+":
        return [f"--{name}", _format(value)]
    # `--name=value` keeps a value that starts with "-" from being read as an option.
    return [f"--{name}={_format(value)}"]


def typed_args(req: TrainingRequest, model: str, dataset: str, table: dict[str, ArgInfo]) -> list[str]:
    fields = req.training_fields()
    fields.update(model=model, dataset=dataset)
    fields.pop("output_dir", None)  # placed by the caller, per backend
    args: list[str] = []
    for name, value in fields.items():
        cli = CLI_NAMES.get(name, name)
        info = table.get(cli)
        if info is None:  # APPLIES_TO disagrees with the installed TRL; say so rather than launch a failing job
            raise InvalidJobSpec(f"the installed TRL's {req.trainer} script has no --{cli} argument.", field=name)
        _check_choices(name, value, info)
        args += _option(cli, value, info)
    return args


def _check_choices(field: str, value: Any, info: ArgInfo, *, what: str = "") -> None:
    if not info["choices"]:
        return
    for item in value if isinstance(value, list) else [value]:
        if _format(item) not in info["choices"]:
            raise InvalidJobSpec(f"{what}{item!r} is not one of {', '.join(info['choices'])}."
                                 f"{did_you_mean(_format(item), info['choices'])}", field=field)


def _typed_field_for(cli_name: str) -> str | None:
    by_cli = {CLI_NAMES.get(f, f): f for f in TrainingRequest.model_fields if f not in NOT_CLI}
    if cli_name in by_cli:
        return by_cli[cli_name]
    # Our own fields that are no TRL argument (eval_fraction, early stopping) are still fields to point to.
    return cli_name if cli_name in TrainingRequest.model_fields and cli_name not in ("trainer", "extra_args") else None


def _unknown(name: str, trainer: str, table: dict[str, ArgInfo], tables: dict[str, dict[str, ArgInfo]]) -> str:
    others = [t for t, tab in tables.items() if name in tab]
    if others:
        return (f"{name!r} is not an argument of TRL's {trainer} script; it belongs to {', '.join(others)}. "
                "Remove it or pick one of those trainers.")
    near = closest(name, list(table), cutoff=0.75)
    if not near:
        return f"{name!r} is not an argument of TRL's {trainer} script (TRL {_installed_trl()}). Check the name."
    fixes = [f"{n!r} (its own field: set `{_typed_field_for(n)}`)" if _typed_field_for(n) else repr(n) for n in near]
    return (f"{name!r} is not an argument of TRL's {trainer} script (TRL {_installed_trl()}). "
            f"Did you mean {' or '.join(fixes)}?")


def _installed_trl() -> str:
    from importlib import metadata

    try:
        return metadata.version("trl")
    except metadata.PackageNotFoundError:
        return "not installed"


def _check_name(name: str, trainer: str, table: dict[str, ArgInfo],
                tables: dict[str, dict[str, ArgInfo]]) -> ArgInfo | None:
    field = _typed_field_for(name)
    if field is not None:
        raise InvalidJobSpec(f"{name!r} has its own field: set `{field}` instead of passing it in extra_args.",
                             field="extra_args")
    if name not in table:
        raise InvalidJobSpec(_unknown(name, trainer, table, tables), field="extra_args")
    return table[name]


def extra_args(req: TrainingRequest, table: dict[str, ArgInfo],
                tables: dict[str, dict[str, ArgInfo]]) -> list[str]:
    extra = req.extra_args
    if not extra:
        return []
    if isinstance(extra, list):
        if not extra[0].startswith("--"):
            raise InvalidJobSpec(f"command-line words must start with an option such as '--warmup_steps', got "
                                 f"{extra[0]!r}.", field="extra_args")
        for word in extra:
            if word.startswith("--"):
                _check_name(word[2:].split("=", 1)[0].replace("-", "_"), req.trainer, table, tables)
            elif word.startswith("-") and not re.fullmatch(r"-[\d.]+(e-?\d+)?", word):
                raise InvalidJobSpec(f"{word!r}: TRL's options are long ones, such as '--seed'.", field="extra_args")
        return list(extra)
    args: list[str] = []
    for key, value in extra.items():
        name = key.lstrip("-").replace("-", "_")
        info = _check_name(name, req.trainer, table, tables)
        assert info is not None
        _check_value(name, value, info)
        if info["kind"] == "flag":
            args.append(f"--{name}")  # `no_<name>` switches take no value; _check_value allowed only true
        else:
            args += _option(name, value, info)
    return args


def _check_value(name: str, value: Any, info: ArgInfo) -> None:
    def bad(expected: str) -> InvalidJobSpec:
        return InvalidJobSpec(f"extra_args[{name!r}] expects {expected}, got {value!r}.", field="extra_args")

    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and info["nargs"] != "+":
        raise bad("a single value")
    kind = info["kind"]
    for item in items:
        text = _format(item).lower()
        if kind == "flag" and item is not True:
            raise bad(f"true (it is a switch that turns {name[3:]!r} off; to keep that on, leave it out)")
        if kind == "bool" and not (isinstance(item, bool) or text in ("true", "false", "yes", "no", "1", "0")):
            raise bad("true or false")
        if kind == "int" and (isinstance(item, bool) or not re.fullmatch(r"-?\d+|none|null", text)):
            raise bad("a whole number")
        if kind == "float" and (isinstance(item, bool) or not _is_number(text)):
            raise bad("a number")
    _check_choices("extra_args", value, info, what=f"extra_args[{name!r}]: ")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("none", "null")
    return True


def extra_names(extra: dict[str, Any] | list[str] | None) -> set[str]:
    """The argument names `extra_args` sets, in TRL's spelling."""
    if isinstance(extra, dict):
        return {k.lstrip("-").replace("-", "_") for k in extra}
    return {w[2:].split("=", 1)[0].replace("-", "_") for w in extra or [] if w.startswith("--")}


def sets_precision(extra: dict[str, Any] | list[str] | None) -> bool:
    return bool(extra_names(extra) & set(_PRECISION_ARGS))


def lacks_bf16(flavor: Flavor) -> bool:
    if not flavor.is_gpu:
        return True
    return bool(set((flavor.gpu or "").lower().split()) & _NO_BF16_GPUS)
