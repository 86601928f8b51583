"""What the entry module adds around TRL's script, in the job's process: a held-out split, early stopping, and the
run's outcome written beside its model.

- Our own options (`OWN_OPTIONS`, written by recipes/evaluation.py) are taken off the command line before TRL
  parses it: TRL's parser does not know them.
- The held-out share of one split is written as a train/test folder that TRL's script reads; the log gives both
  sizes.
- The trainer class the script builds (trl.<Class>) is swapped for a subclass that adds our callbacks: transformers'
  EarlyStoppingCallback when asked, and `RunNotes`, which says in the log where a resumed run starts (so that steps
  read from the log are the run's global steps) and writes OUTCOME_FILE at the end (stopped early or not, at which
  step, the best checkpoint, the last and best values of the logged metrics).

Relative imports only: this file is shipped to Ray nodes beside entry.py (jobs/backends/ray/shipped.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .argv import find_option
from .trainers import OUTCOME_FILE

OWN_OPTIONS = ("eval_fraction", "early_stopping_patience", "early_stopping_threshold")
_LOADERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def take_own_options(args: list[str]) -> tuple[list[str], dict[str, float]]:
    """The command line without our own options, and their values."""
    own: dict[str, float] = {}
    out = list(args)
    for name in OWN_OPTIONS:
        found = find_option(out, name)
        while found is not None:
            index, value = found
            own[name] = float(value)
            # `--name=value` is one word; `--name value` two.
            start = index if out[index].startswith(f"--{name}=") or out[index].startswith(
                f"--{name.replace('_', '-')}=") else index - 1
            del out[start:index + 1]
            found = find_option(out, name)
    return out, own


def write_held_out(source: str | Path, folder: Path, *, fraction: float, seed: int, config: str | None = None,
                   split: str = "train") -> None:
    """train.jsonl and test.jsonl in `folder`: `fraction` of `split`'s rows (at least one, shuffled with `seed`)
    as test. `source` is a data file, a dataset folder or a Hub id."""
    from datasets import load_dataset

    path = Path(source)
    if path.is_file():
        rows = load_dataset(_LOADERS[path.suffix.lower()], data_files=str(path), split="train")
    else:
        rows = load_dataset(str(source), config, split=split)
    test_size = max(1, round(len(rows) * fraction))
    parts = rows.train_test_split(test_size=test_size, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "test"):
        parts[name].to_json(str(folder / f"{name}.jsonl"), lines=True, force_ascii=False)
    print(f"[trl-jobs] {path.name or source}: {len(parts['train'])} rows for training, {len(parts['test'])} held out "
          f"for evaluation ({fraction:.0%}, seed {seed}).", flush=True)


def _best_and_last(history: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    last: dict[str, float] = {}
    best: dict[str, float] = {}
    for entry in history:
        for key, value in entry.items():
            if key in ("step", "epoch") or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            last[key] = float(value)
            if "loss" in key:
                best[key] = min(best.get(key, math.inf), float(value))
    return last, best


def run_notes_callback() -> Any:
    from transformers import TrainerCallback

    class RunNotes(TrainerCallback):
        """Says where a resumed run starts, and writes the run's outcome at its end."""

        def __init__(self) -> None:
            self.patience: Any = None
            self.resumed_at = 0

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers' hook
            self.resumed_at = state.global_step
            if state.global_step and state.is_world_process_zero:
                print(f"[trl-jobs] resumed at global step {state.global_step} of {state.max_steps}.", flush=True)

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers' hook
            if not state.is_world_process_zero:
                return
            last, best = _best_and_last(state.log_history)
            patience = self.patience
            stopped = bool(patience is not None and state.global_step < state.max_steps
                           and patience.early_stopping_patience_counter >= patience.early_stopping_patience)
            checkpoint = Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None
            outcome = {"global_step": state.global_step, "max_steps": state.max_steps, "stopped_early": stopped,
                       "resumed_at": self.resumed_at or None, "metric": args.metric_for_best_model,
                       "best_checkpoint": checkpoint if args.load_best_model_at_end else None,
                       "best_metric": state.best_metric, "last": last, "best": best}
            out = Path(args.output_dir or ".")  # entry.py always passes --output_dir
            out.mkdir(parents=True, exist_ok=True)
            (out / OUTCOME_FILE).write_text(json.dumps(outcome, indent=1), encoding="utf-8")
            if stopped and patience is not None:
                print(f"[trl-jobs] stopped early at step {state.global_step} of {state.max_steps}: "
                      f"{args.metric_for_best_model} did not improve for {patience.early_stopping_patience} "
                      f"evaluation(s); the model is the best checkpoint, {checkpoint} "
                      f"({args.metric_for_best_model} {state.best_metric:.4g}).", flush=True)

    return RunNotes()


def add_callbacks(class_name: str, own: dict[str, float]) -> None:
    """Make TRL's scripts build a trainer that also runs our callbacks. They import the trainer class from the trl
    package inside their main(), so the class is swapped there, in this process only."""
    import trl

    notes = run_notes_callback()
    extra = [notes]
    if "early_stopping_patience" in own:
        from transformers import EarlyStoppingCallback

        notes.patience = EarlyStoppingCallback(early_stopping_patience=int(own["early_stopping_patience"]),
                                               early_stopping_threshold=own.get("early_stopping_threshold", 0.0))
        extra.append(notes.patience)
    base = getattr(trl, class_name)

    class WithCallbacks(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), *extra]
            super().__init__(*args, **kwargs)

    WithCallbacks.__name__ = base.__name__
    setattr(trl, class_name, WithCallbacks)
