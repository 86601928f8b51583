"""Evaluation, early stopping and checkpoints, as the recipe writes them on TRL's command line.

A held-out split (`eval_fraction`, or the default share of a single file) and early stopping are done in the job by
the entry module (jobs/recipes/jobside.py), which reads our own options `--eval_fraction`,
`--early_stopping_patience` and `--early_stopping_threshold` and takes them off before TRL parses the rest. A backend
that runs TRL's own script has no such entry, so there they are refused, naming the field.

Early stopping needs evaluation and saving on the same steps and the best checkpoint kept (transformers refuses
`load_best_model_at_end` otherwise), so the recipe aligns them and says so in a note.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.models import InvalidJobSpec
from .checks import extra_value, logging_steps_for
from .request import TrainingRequest
from .trainers import DATA_FILE_SUFFIXES, DEFAULT_SEED, HELD_OUT

if TYPE_CHECKING:
    from ..backends.base import BackendTraits

# Checkpoints kept by default when a run saves by steps: TRL's default saves every 500 steps and keeps them all.
SAVE_TOTAL_LIMIT = 2
_SLICE = ("[", "%")


def _evaluates(req: TrainingRequest) -> bool:
    return req.eval_strategy not in (None, "no")


def check_splits(req: TrainingRequest, data_kind: str, traits: BackendTraits, notes: list[str]) -> None:
    """Refuse splits the job could not read, naming eval_fraction where a held-out share is what was meant."""
    split = req.dataset_split or ""
    if any(mark in split for mark in _SLICE):
        raise InvalidJobSpec(f"split slices such as {split!r} are not passed to the dataset loader; to hold rows "
                             "out for evaluation set eval_fraction (e.g. 0.1), and remove dataset_split.",
                             field="dataset_split")
    wants_eval = _evaluates(req) or req.eval_fraction is not None or req.early_stopping_patience is not None
    if req.eval_fraction is not None or (wants_eval and data_kind == "file"):
        if not traits.entry_command:
            raise InvalidJobSpec(f"a held-out share is made by our entry module, which jobs on {traits.place} do not "
                                 "run (they run TRL's own script): give a dataset with a test split "
                                 "(dataset_test_split) instead.", field="eval_fraction")
    if data_kind == "file":
        if req.dataset_split not in (None, "train"):
            raise InvalidJobSpec(f"a single data file is one split, named 'train'; got {req.dataset_split!r}. "
                                 "Remove dataset_split; to hold rows out for evaluation set eval_fraction "
                                 "(e.g. 0.1).", field="dataset_split")
        if req.dataset_config is not None:
            raise InvalidJobSpec("a local file has no configurations; remove dataset_config.",
                                 field="dataset_config")
    if req.eval_fraction is not None and req.dataset_test_split is not None:
        raise InvalidJobSpec("eval_fraction makes the test split from the train split; drop one of "
                             "dataset_test_split and eval_fraction.", field="eval_fraction")
    if wants_eval and data_kind == "file" and req.dataset_test_split not in (None, "test"):
        raise InvalidJobSpec(f"a single data file has no {req.dataset_test_split!r} split: its held-out rows "
                             "are named 'test' (eval_fraction, e.g. 0.1, sets their share). Remove dataset_test_split.",
                             field="dataset_test_split")
    if wants_eval and data_kind == "dir" and req.eval_fraction is None:
        split = req.dataset_test_split or "test"
        folder = Path(req.dataset).expanduser()
        if folder.is_dir() and not any(re.match(rf"^{re.escape(split)}([-_.]|$)", p.stem) for p in folder.rglob("*")
                                       if p.is_file() and p.suffix.lower() in DATA_FILE_SUFFIXES):
            raise InvalidJobSpec(f"the folder has no {split!r} split to evaluate on: set eval_fraction (e.g. 0.1) "
                                 "to hold out a share of the train split.", field="eval_fraction")
    if req.eval_fraction is not None or (wants_eval and data_kind == "file"):
        share = req.eval_fraction if req.eval_fraction is not None else HELD_OUT
        seed = req.seed if req.seed is not None else DEFAULT_SEED
        notes.append(f"eval: {share:.0%} of the train split's rows are held out as the test split (seed {seed}); "
                     "training uses the rest; the log gives both sizes.")


def _interval(req: TrainingRequest) -> float | None:
    """The eval interval in steps: the request's, else its logging interval (TRL's own default for eval_steps)."""
    for value in (req.eval_steps, req.logging_steps, logging_steps_for(req)):
        if value is not None:
            return value
    return max(1, req.max_steps // 10) if req.max_steps else None


def eval_args(req: TrainingRequest, traits: BackendTraits, notes: list[str]) -> list[str]:
    """The command words for evaluation, early stopping and the checkpoints kept, after the typed fields."""
    words: list[str] = []
    patience = req.early_stopping_patience
    if req.early_stopping_threshold is not None and patience is None:
        raise InvalidJobSpec("has no effect without early_stopping_patience; set it (e.g. 3) or remove the "
                             "threshold.", field="early_stopping_threshold")
    if patience is not None and not traits.entry_command:
        raise InvalidJobSpec(f"early stopping is added by our entry module, which jobs on {traits.place} do not run "
                             "(they run TRL's own script). Remove early_stopping_patience, or run on the local or "
                             "Ray backend.", field="early_stopping_patience")
    if req.eval_strategy == "no" and (patience is not None or req.eval_fraction is not None):
        field = "early_stopping_patience" if patience is not None else "eval_fraction"
        raise InvalidJobSpec("needs an evaluation, and eval_strategy is 'no'; remove eval_strategy.", field=field)
    strategy = req.eval_strategy
    if strategy is None and (patience is not None or req.eval_fraction is not None):
        interval = _interval(req)
        strategy = "steps" if interval is not None else "epoch"
        words.append(f"--eval_strategy={strategy}")
        if interval is not None and req.eval_steps is None:
            words.append(f"--eval_steps={_number(interval)}")
        notes.append(f"eval: evaluated every {_number(interval)} steps." if interval is not None
                     else "eval: evaluated at the end of every epoch.")
    if req.eval_fraction is not None:
        words.append(f"--eval_fraction={_number(req.eval_fraction)}")
    saves_by_steps = req.save_strategy in (None, "steps")
    if patience is not None:
        if req.save_strategy not in (None, strategy, "best"):
            raise InvalidJobSpec(f"early stopping keeps the best checkpoint, so it saves when it evaluates "
                                 f"({strategy}); remove save_strategy.", field="save_strategy")
        interval = _interval(req) if strategy == "steps" else None
        if req.save_steps is not None and interval is not None and req.save_steps != interval:
            raise InvalidJobSpec(f"early stopping saves when it evaluates (every {_number(interval)} steps); remove "
                                 "save_steps, or set eval_steps to the same value.", field="save_steps")
        if req.save_strategy is None:
            words.append(f"--save_strategy={strategy}")
            if interval is not None:
                words.append(f"--save_steps={_number(interval)}")
        saves_by_steps = strategy == "steps"
        metric = extra_value(req.extra_args, "metric_for_best_model")
        if metric is None:
            metric = "eval_loss"
            words.append(f"--metric_for_best_model={metric}")
        if extra_value(req.extra_args, "load_best_model_at_end") is None:
            words.append("--load_best_model_at_end=true")
        words.append(f"--early_stopping_patience={patience}")
        threshold = req.early_stopping_threshold
        if threshold is not None:
            words.append(f"--early_stopping_threshold={_number(threshold)}")
        notes.append(f"early stopping: the run stops once {metric} has not improved"
                     + (f" by more than {_number(threshold)}" if threshold else "")
                     + f" for {patience} evaluation(s); checkpoints are saved at each evaluation and the best one "
                       "is loaded at the end as the model.")
    if saves_by_steps and extra_value(req.extra_args, "save_total_limit") is None:
        words.append(f"--save_total_limit={SAVE_TOTAL_LIMIT}")
        notes.append(f"checkpoints: the last {SAVE_TOTAL_LIMIT} are kept (save_total_limit={SAVE_TOTAL_LIMIT}"
                     + ("; the best is kept too" if patience is not None else "")
                     + "); set extra_args save_total_limit to keep more.")
    return words


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() and math.isfinite(value) else str(value)
