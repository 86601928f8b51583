"""The job-side entry point: `python -m trl_jobs_mcp.jobs.recipes.entry <trainer> [TRL arguments...]` (on a Ray
node, `python -m trl_jobs_ray.entry ...`: the same file, shipped with the job).

Runs in the JOB's process (heavy imports are fine here), around TRL's own script `trl.scripts.<trainer>`:
- `--output_dir` defaults to $TRL_JOBS_OUTPUT_DIR, the folder the backend gives each job (Ray: ~/trl-jobs/<job id>
  on the node);
- a single .jsonl/.json/.parquet/.csv file given as `--dataset_name` is presented to TRL as a folder holding it
  (TRL passes dataset_name to `datasets.load_dataset`, which takes a folder but not a lone file);
- a model card tagged with the trainer's name is written to the output folder if TRL did not write one (TRL writes
  it only when it saves a checkpoint, so `save_strategy=no` would otherwise leave none).
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Relative: this module also runs as trl_jobs_ray.entry on a Ray node, from the copy shipped with the job, where
# these two siblings are shipped beside it and this package is not installed.
from .argv import find_option
from .trainers import DATA_FILE_SUFFIXES, TRAINER_CLASSES

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


def with_data_folder(args: list[str], tmp_root: Path) -> list[str]:
    """If --dataset_name is a single data file, point it at a folder holding (a link to) that file as the train
    split; the folder lives under `tmp_root`, which the caller removes."""
    found = find_option(args, "dataset_name")
    if not found:
        return args
    index, value = found
    path = Path(value).expanduser()
    if not (path.is_file() and path.suffix.lower() in DATA_FILE_SUFFIXES):
        return args
    folder = tmp_root / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"train{path.suffix.lower()}"
    try:
        target.symlink_to(path.resolve())
    except OSError:
        shutil.copyfile(path, target)
    args = list(args)
    _replace(args, index, str(folder))
    return args


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
        hub_model_id=training_args.hub_model_id,
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


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TRAINER_CLASSES:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'trl_jobs_mcp.jobs.recipes.entry'} "
                 f"{{{','.join(TRAINER_CLASSES)}}} [TRL arguments...]")
    trainer, args = argv[0], with_output_dir(argv[1:])
    # TRL's grpo/rloo scripts import dotted reward functions relative to the working directory, as `trl` does.
    with tempfile.TemporaryDirectory(prefix="trl-jobs-") as tmp:
        args = with_data_folder(args, Path(tmp))
        script = importlib.import_module(f"trl.scripts.{trainer}")
        parser = script.make_parser(prog=f"trl {trainer}")
        parsed = parser.parse_args_and_config(args=args, fail_with_unknown_args=False)
        script.main(*parsed)
        script_args, training_args, model_args = parsed[:3]
        ensure_model_card(trainer, script_args, training_args, model_args)


if __name__ == "__main__":
    main()
