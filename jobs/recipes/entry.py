"""The job-side entry point: `python -m trl_jobs_mcp.jobs.recipes.entry <trainer> [TRL arguments...]` (on a Ray
node, `python -m trl_jobs_ray.entry ...`: the same file, shipped with the job).

Runs in the JOB's process (heavy imports are fine here), around TRL's own script `trl.scripts.<trainer>`:
- `--output_dir` defaults to $TRL_JOBS_OUTPUT_DIR, the folder the backend gives each job (Ray: ~/trl-jobs/<job id>
  on the node);
- a single .jsonl/.json/.parquet/.csv file given as `--dataset_name` is presented to TRL as a folder holding it
  (TRL passes dataset_name to `datasets.load_dataset`, which takes a folder but not a lone file); when an evaluation
  is asked for, HELD_OUT of its rows (or --eval_fraction of any dataset's train split; shuffled with the run's
  seed) become that folder's test split;
- our own options (jobside.OWN_OPTIONS) are taken off before TRL parses, and the trainer gets our callbacks
  (early stopping, the outcome file: see jobside.py);
- a reward function given as a file form (`/path/to/rewards.py:func`) is loaded from that file and handed to TRL's
  script under a module name it can import;
- a model card tagged with the trainer's name is written to the output folder if TRL did not write one (TRL writes
  it only when it saves a checkpoint, so `save_strategy=no` would otherwise leave none).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Relative: this module also runs as trl_jobs_ray.entry on a Ray node, from the copy shipped with the job, where
# these two siblings are shipped beside it and this package is not installed.
from . import jobside
from .argv import find_option
from .trainers import DATA_FILE_SUFFIXES, DEFAULT_SEED, HELD_OUT, TRAINER_CLASSES

OUTPUT_DIR_ENV = "TRL_JOBS_OUTPUT_DIR"


def _replace(args: list[str], index: int, value: str) -> None:
    flag, eq, _ = args[index].partition("=")
    args[index] = f"{flag}={value}" if eq and flag.startswith("--") else value


def with_output_dir(args: list[str]) -> list[str]:
    if find_option(args, "output_dir"):
        return args
    default = os.environ.get(OUTPUT_DIR_ENV)
    if not default:
        sys.exit(f"error: no --output_dir given and {OUTPUT_DIR_ENV} is not set.")
    return [*args, f"--output_dir={default}"]


def _evaluates(args: list[str]) -> bool:
    found = find_option(args, "eval_strategy")
    return bool(found) and found[1].lower() not in ("no", "none")


def with_data_folder(args: list[str], tmp_root: Path, fraction: float | None = None) -> list[str]:
    """If --dataset_name is a single data file, point it at a folder holding (a link to) that file as the train
    split, or, when an evaluation is asked for, the file split into train and test (`fraction` of its rows, else
    HELD_OUT). With `fraction`, a folder or Hub dataset's train split is split so too. The folder lives under
    `tmp_root`, which the caller removes."""
    found = find_option(args, "dataset_name")
    if not found:
        return args
    index, value = found
    path = Path(value).expanduser()
    is_file = path.is_file() and path.suffix.lower() in DATA_FILE_SUFFIXES
    if not is_file and fraction is None:
        return args
    folder = tmp_root / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    args = list(args)
    if fraction is not None or _evaluates(args):
        config = find_option(args, "dataset_config")
        split = find_option(args, "dataset_train_split")
        jobside.write_held_out(path if is_file else value, folder, fraction=fraction or HELD_OUT,
                               seed=int((find_option(args, "seed") or (0, DEFAULT_SEED))[1]),
                               config=config[1] if config else None, split=split[1] if split else "train")
        # The folder's splits are train and test, whatever the source called them.
        for name, fixed in (("dataset_train_split", "train"), ("dataset_test_split", "test")):
            if (at := find_option(args, name)) is not None:
                _replace(args, at[0], fixed)
        if config is not None:
            start = config[0] if args[config[0]].startswith("--") else config[0] - 1
            del args[start:config[0] + 1]
            index = find_option(args, "dataset_name")[0]  # type: ignore[index]
    else:
        target = folder / f"train{path.suffix.lower()}"
        try:
            target.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, target)
    _replace(args, index, str(folder))
    return args


def with_reward_files(args: list[str]) -> list[str]:
    """Each `--reward_funcs` value of the form /path/rewards.py:func loaded from its file and renamed to a dotted
    path TRL's script imports (it is already in sys.modules)."""
    out, in_rewards = [], False
    for word in args:
        if word.startswith("--"):
            in_rewards = word.split("=", 1)[0] in ("--reward_funcs", "--reward-funcs")
        elif in_rewards and ".py:" in word:
            file, func = word.rsplit(":", 1)
            name = f"_trl_jobs_rewards_{len(out)}"
            spec = importlib.util.spec_from_file_location(name, file)
            if spec is None or spec.loader is None:
                sys.exit(f"error: cannot load reward functions from {file!r}.")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            word = f"{name}.{func}"
        out.append(word)
    return out


def ensure_model_card(trainer: str, script_args, training_args, model_args) -> Path | None:
    """Write TRL's model card for this run to the output folder unless TRL already wrote one."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    out = Path(training_args.output_dir)
    card_path = out / "README.md"
    if card_path.exists() or not out.is_dir():
        return None
    import trl
    from trl.trainer.utils import generate_model_card

    cls = getattr(trl, TRAINER_CLASSES[trainer])
    model = model_args.model_name_or_path
    dataset = script_args.dataset_name
    card = generate_model_card(
        base_model=None if os.path.isdir(model) else model,
        model_name=out.name if training_args.hub_model_id is None else training_args.hub_model_id.split("/")[-1],
        hub_model_id=training_args.hub_model_id,  # pyright: ignore[reportArgumentType]  (None: a card with no Hub link)
        dataset_name=None if dataset is None or os.path.exists(dataset) else dataset,
        tags=sorted(set(cls._tag_names)),
        wandb_url=None,
        trackio_url=None,
        trainer_name=cls._name,
        trainer_citation=cls._paper.get("citation"),
        template_file=cls._template_file,
        paper_title=cls._paper.get("title"),
        paper_id=cls._paper.get("id"),
    )
    card.save(str(card_path))
    return card_path


def main(argv: list[str] | None = None, *, trainer_class: Callable[[type], type] | None = None) -> None:
    """Run TRL's script for the trainer named first in `argv`; `trainer_class`, given TRL's trainer class, returns
    the one the script uses instead (a Ray Train worker's, backends/ray/train.py)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TRAINER_CLASSES:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'trl_jobs_mcp.jobs.recipes.entry'} "
                 f"{{{','.join(TRAINER_CLASSES)}}} [TRL arguments...]")
    trainer, args = argv[0], with_output_dir(argv[1:])
    args, own = jobside.take_own_options(args)
    # TRL's grpo/rloo scripts import dotted reward functions relative to the working directory, as `trl` does.
    with tempfile.TemporaryDirectory(prefix="trl-jobs-") as tmp:
        args = with_reward_files(with_data_folder(args, Path(tmp), own.get("eval_fraction")))
        script = importlib.import_module(f"trl.scripts.{trainer}")
        jobside.add_callbacks(TRAINER_CLASSES[trainer], own)
        if trainer_class is not None:  # TRL's scripts import their trainer from `trl` as they run
            import trl

            name = TRAINER_CLASSES[trainer]
            setattr(trl, name, trainer_class(getattr(trl, name)))
        parser = script.make_parser(prog=f"trl {trainer}")
        parsed = parser.parse_args_and_config(args=args, fail_with_unknown_args=False)
        script.main(*parsed)
        script_args, training_args, model_args = parsed[:3]
        if os.environ.get("RANK", "0") == "0":  # one of several workers writes it
            ensure_model_card(trainer, script_args, training_args, model_args)


if __name__ == "__main__":
    main()
