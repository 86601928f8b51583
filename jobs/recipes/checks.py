"""Checks a training request must pass before a job exists, where the failure would otherwise come seconds or minutes
into the job: mixed precision on a flavor without a GPU, a dataset whose columns do not fit the trainer, a reward
function that cannot be imported. Also the defaults chosen for the user (logging_steps), each said in a note.

Nothing here imports torch, transformers, datasets or trl: a dataset's first rows are read with the standard library
(pyarrow only for a parquet file's schema), a Hub dataset's columns come from its card through huggingface_hub, and
a user's reward module is read, never run (reward_source.py).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.flavors import Flavor
from ..core.local_tree import walk
from ..core.models import InvalidJobSpec
from ..core.redact import credential_shape
from . import reward_source
from .request import (APPLIES_TO, BUILTIN_REWARD_FUNCS, DATA_FILE_SUFFIXES, TrainingRequest,
                                               did_you_mean)

if TYPE_CHECKING:
    from ..backends.base import BackendTraits

def raise_all(checks: list[Callable[[], None]]) -> None:
    """Run every check; raise the first problem's InvalidJobSpec with the others' messages after it."""
    found: list[InvalidJobSpec] = []
    for check in checks:
        try:
            check()
        except InvalidJobSpec as exc:
            found.append(exc)
    if not found:
        return
    first = found[0]
    message = str(first).removeprefix(f"{first.field}: ")
    for other in found[1:]:
        message += f" Also {other}"
    raise InvalidJobSpec(message, field=first.field)


# --- mixed precision ---

_TRUE = {"true", "1", "yes", ""}


def extra_value(extra: dict[str, Any] | list[str] | None, name: str) -> str | None:
    """The value extra_args gives to TRL argument `name`, lower-cased ("" for a bare `--name` switch); None when
    it is not given."""
    if isinstance(extra, dict):
        for key, value in extra.items():
            if key.lstrip("-").replace("-", "_") == name:
                return str(value).lower()
        return None
    found = None
    words = list(extra or [])
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        key, eq, value = word[2:].partition("=")
        if key.replace("-", "_") != name:
            continue
        if eq:
            found = value.lower()
        elif i + 1 < len(words) and not words[i + 1].startswith("--"):
            found = words[i + 1].lower()
        else:
            found = ""
    return found


def check_precision(req: TrainingRequest, flavor: Flavor) -> None:
    """bf16 or fp16 on a flavor without a GPU stops TRL at start-up ("Your setup doesn't support bf16/gpu. You need
    to assign use_cpu ..."): refuse it now and name both ways out."""
    if flavor.is_gpu or extra_value(req.extra_args, "use_cpu") in _TRUE:
        return
    asked = [name for name in ("bf16", "fp16") if extra_value(req.extra_args, name) in _TRUE]
    if not asked:
        return
    name = asked[0]
    raise InvalidJobSpec(
        f"{name}=true needs a GPU and {flavor.name} has none; the job would stop at start-up. Either drop {name} "
        f"from extra_args (train in full precision on the CPU), or keep it and add use_cpu=true "
        f"(extra_args {{'{name}': true, 'use_cpu': true}}: {name} on the CPU, as TRL's own error suggests), or "
        "pick a GPU flavor (list_hardware).", field="extra_args")


# --- dataset columns ---

# The columns each trainer reads (TRL's dataset formats); any one alternative suffices.
TRAINER_COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "sft": (("messages",), ("text",), ("prompt", "completion")),
    "dpo": (("chosen", "rejected"),),
    "reward": (("chosen", "rejected"),),
    "kto": (("prompt", "completion", "label"), ("chosen", "rejected")),
    "grpo": (("prompt",),),
    "rloo": (("prompt",),),
}
_WANTS = {"sft": "messages, or text, or prompt/completion", "dpo": "prompt/chosen/rejected (prompt may be inside "
          "chosen and rejected)", "reward": "chosen/rejected", "kto": "prompt/completion/label, or "
          "prompt/chosen/rejected", "grpo": "prompt", "rloo": "prompt"}
_ROWS_READ = 5
_JSON_MAX_BYTES = 20_000_000


def _fits(trainer: str, columns: set[str], text_field: str | None = None) -> bool:
    options = TRAINER_COLUMNS[trainer]
    if trainer == "sft" and text_field:
        options = (*options, (text_field,))
    return any(set(option) <= columns for option in options)


def fitting_trainers(columns: Iterable[str]) -> list[str]:
    """The trainers whose data these columns are, most specific first (a pair dataset reads as dpo before kto)."""
    cols = set(columns)
    order = ("dpo", "reward", "kto", "sft", "grpo", "rloo")
    found = [t for t in order if _fits(t, cols)]
    if "prompt" in cols and ({"chosen", "completion"} & cols):
        found = [t for t in found if t not in ("grpo", "rloo")]  # they would ignore the answers
    return found


def _rows_of_file(path: Path) -> set[str] | None:
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            keys: set[str] = set()
            with path.open(encoding="utf-8") as f:
                for _, line in zip(range(_ROWS_READ), (line for line in f if line.strip())):
                    row = json.loads(line)
                    if isinstance(row, dict):
                        keys |= set(row)
            return keys or None
        if suffix == ".json":
            if path.stat().st_size > _JSON_MAX_BYTES:
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
                return set(data) or None  # column-oriented: {"prompt": [...], ...}
            rows = data if isinstance(data, list) else []
            keys = {k for row in rows[:_ROWS_READ] if isinstance(row, dict) for k in row}
            return keys or None
        if suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                header, first = next(reader, None), next(reader, None)
            if not header or not first or len(first) != len(header):
                return None  # not a table with a header row: its first line may be anything, a value included
            return {h.strip() for h in header if h.strip()} or None
        if suffix == ".parquet":
            import pyarrow.parquet as pq  # only for a parquet file, and only its schema

            return set(pq.read_schema(path).names) or None
    except (OSError, ValueError, UnicodeDecodeError, ImportError):
        return None  # unreadable here: the job will say more than a guess would
    return None


# What a column name looks like: a refusal quotes only these, so a file that is no dataset (a credentials.csv whose
# first line is values, a .json of settings) never has its content quoted back.
_COLUMN_NAME = re.compile(r"^[^\W\d]\w{0,63}$|^[^\W\d][\w .-]{0,62}\w$")


def _as_columns(found: set[str] | None) -> set[str] | None:
    if not found or not all(_COLUMN_NAME.match(name) and not credential_shape(name) for name in found):
        return None
    return found


def _split_file(folder: Path, split: str) -> Path | None:
    """The file `datasets` would read as `split` from a folder (train.jsonl, train-00000.parquet, ...).

    The walk is bounded (a home folder once took 17 s): past MAX_FILES files, InvalidJobSpec names `dataset`."""
    # Sizes are no bound here: the job reads the folder on this machine, and a stat costs the same at any size.
    files = sorted(file for _, file in walk(folder, field="dataset", max_bytes=None,
                                            suffixes=frozenset(DATA_FILE_SUFFIXES)))
    for path in files:
        if re.match(rf"^{re.escape(split)}([-_.]|$)", path.stem):
            return path
    return files[0] if len(files) == 1 else None


@functools.lru_cache(maxsize=64)
def _hub_columns(repo: str, config: str | None, *, token: str | None, endpoint: str | None) -> set[str] | None:
    """The features the dataset's card declares, or None when the Hub cannot be reached or the card says nothing."""
    try:
        from huggingface_hub import HfApi, constants

        if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            return None
        info = HfApi(endpoint=endpoint, token=token or None).dataset_info(repo, timeout=10)
    except Exception:  # noqa: BLE001 - unreachable, private, missing: the job's own error is clearer than a guess
        return None
    declared = getattr(info.card_data, "dataset_info", None) if info.card_data is not None else None
    entries = declared if isinstance(declared, list) else [declared] if isinstance(declared, dict) else []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if config is not None and entry.get("config_name", "default") != config:
            continue
        names = {str(f["name"]) for f in entry.get("features") or [] if isinstance(f, dict) and f.get("name")}
        if names:
            return names
    return None


def dataset_columns(req: TrainingRequest, dataset: str, kind: str, *, token: str | None = None,
                    endpoint: str | None = None) -> set[str] | None:
    """The columns of the split the job will train on, when they can be known cheaply; None otherwise."""
    split = req.dataset_split or "train"
    if kind == "file":
        return _as_columns(_rows_of_file(Path(dataset)))
    if kind == "dir":
        found = _split_file(Path(dataset), split)
        return _as_columns(_rows_of_file(found)) if found else None
    # HF_ENDPOINT read now, not at huggingface_hub's import, so a server configured for another Hub asks that one.
    return _hub_columns(dataset, req.dataset_config, token=token, endpoint=endpoint or os.environ.get("HF_ENDPOINT"))


def check_columns(req: TrainingRequest, columns: set[str] | None) -> None:
    """Refuse a dataset whose columns do not fit the trainer, naming the trainer they do fit."""
    if not columns:
        return
    text_field = extra_value(req.extra_args, "dataset_text_field")
    if _fits(req.trainer, columns, text_field):
        return
    shown = ", ".join(f"`{c}`" for c in sorted(columns)[:8])
    fits = fitting_trainers(columns)
    fit = (f": that is {' or '.join(fits[:2])} data" if fits else
           "; no TRL trainer reads these columns as they are")
    fix = f" Use trainer={fits[0]!r}, or" if fits else ""
    raise InvalidJobSpec(f"the rows of {req.dataset!r} have {shown}{fit}; {req.trainer} needs "
                         f"{_WANTS[req.trainer]}.{fix} give a dataset with those columns (rename them with "
                         "datasets' rename_column if only the names differ).", field="dataset")


def _reward_model_given(req: TrainingRequest) -> bool:
    extra = req.extra_args
    if isinstance(extra, dict):
        return any(k.lstrip("-").replace("-", "_") == "reward_model_name_or_path" for k in extra)
    return any(t.lstrip("-").split("=")[0].replace("-", "_") == "reward_model_name_or_path" for t in extra or [])


def check_rewards(req: TrainingRequest, traits: BackendTraits, try_env: dict[str, str] | None) -> TrainingRequest:
    """The request with its reward functions in the form the job receives; with `try_env` (the job's environment),
    the user's own are looked at first as the job would import them, without running them."""
    if req.trainer not in APPLIES_TO["reward_funcs"]:
        return req
    if not req.reward_funcs and not _reward_model_given(req):
        raise InvalidJobSpec(f"the {req.trainer} trainer needs at least one reward: TRL's built-ins "
                             f"({', '.join(BUILTIN_REWARD_FUNCS)}), your own function as a file path "
                             "'path/to/rewards.py:func', a dotted import path 'my_package.rewards.func' "
                             f"({REWARD_HOW}), or a reward model in extra_args "
                             "{'reward_model_name_or_path': ...}.", field="reward_funcs")
    resolved = [resolve_reward(func, traits) for func in req.reward_funcs or []]
    if try_env is not None:
        try_reward_imports(resolved, try_env)
    return req.model_copy(update={"reward_funcs": resolved or None})


# --- logging ---

LOG_POINTS = 20
_TRL_LOGGING_STEPS = 10  # TRL's configs' default


def logging_steps_for(req: TrainingRequest) -> int | None:
    """A logging interval that gives about LOG_POINTS points for a run of max_steps (TRL's 10 would give 2 in a
    24-step run); None when the request sets its own, logs by epoch, or its length is not known."""
    if req.logging_steps is not None or req.logging_strategy not in (None, "steps") or not req.max_steps:
        return None
    steps = max(1, min(_TRL_LOGGING_STEPS, req.max_steps // LOG_POINTS))
    return None if steps == _TRL_LOGGING_STEPS else steps


# --- reward functions ---

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_FILE_FORM = re.compile(r"^(?P<path>.+\.py):(?P<func>[A-Za-z_]\w*)$")
REWARD_HOW = ("a dotted path is imported from PYTHONPATH or the job's working folder, which is the job's own, "
              "not yours")


def resolve_reward(func: str, traits: BackendTraits) -> str:
    """The form of a reward function the job receives: built-ins and dotted paths as given, a file form
    ('rewards.py:fn') with its path made absolute. Raises InvalidJobSpec naming what is wrong and both forms."""
    if func in BUILTIN_REWARD_FUNCS:
        return func
    match = _FILE_FORM.match(func)
    if match:
        path = Path(match["path"]).expanduser()
        if not traits.runs_here:
            raise InvalidJobSpec(f"{func!r} is a file on this machine, which a job on {traits.place} cannot reach. "
                                 f"Use a TRL built-in ({', '.join(BUILTIN_REWARD_FUNCS)}), or run on the local "
                                 "backend.", field="reward_funcs")
        if not path.is_file():
            raise InvalidJobSpec(f"no such file: {match['path']!r} (from {func!r}). Give the absolute path of your "
                                 ".py file (a relative one is read from the server's folder, not yours) and the "
                                 "function's name, e.g. '/home/me/rewards.py:short_reward'.",
                                 field="reward_funcs")
        return f"{path.resolve()}:{match['func']}"
    if not _DOTTED.fullmatch(func):
        raise InvalidJobSpec(f"{func!r} is neither a TRL built-in ({', '.join(BUILTIN_REWARD_FUNCS)})"
                             f"{did_you_mean(func, BUILTIN_REWARD_FUNCS)}, a file form 'path/to/rewards.py:func', "
                             "nor a dotted import path ('module.function').", field="reward_funcs")
    if not traits.runs_here and func.split(".")[0] != "trl":
        raise InvalidJobSpec(f"{func!r} would be imported inside the job's container on {traits.place}, where only "
                             "TRL and its dependencies are installed. Use a TRL built-in "
                             f"({', '.join(BUILTIN_REWARD_FUNCS)}), or run on the local backend.", field="reward_funcs")
    return func


def try_reward_imports(funcs: list[str], env: dict[str, str]) -> None:
    """Look at the user's own reward functions as the job would import them, running none of their code
    (reward_source.py says why): InvalidJobSpec naming the function and what is wrong when one cannot work."""
    for ref in funcs:
        if ref in BUILTIN_REWARD_FUNCS or ref.startswith("trl."):
            continue
        if ".py:" in ref:
            path, name = ref.rsplit(":", 1)
            reward_source.check_source(Path(path), name, ref=ref)
            continue
        module, name = ref.rsplit(".", 1)
        found = reward_source.find_module_source(module, env=env)
        if found is False:
            raise InvalidJobSpec(
                f"reward function {ref!r} cannot be imported as the job would import it: No module named "
                f"{module.split('.')[0]!r} on the job's path. {REWARD_HOW[0].upper()}{REWARD_HOW[1:]}. Pass the file "
                f"instead, e.g. reward_funcs=['/path/to/{module.replace('.', '/')}.py:{name}'] (its absolute path), "
                "or set env={'PYTHONPATH': '<the folder holding it>'}.", field="reward_funcs")
        if isinstance(found, Path):
            reward_source.check_source(found, name, ref=ref)
