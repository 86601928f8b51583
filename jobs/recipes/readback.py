"""A training job read back from what the recipe wrote: its trainer, and where its trained model is.

The recipe owns TRL's command line (build.py), so reading it back lives beside it, on argv.py's option reader: the
trainer is the `trainer` label the recipe adds, or the entry point's first argument (local), or the TRL script's
name (a uv script).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from ..core.models import JobInfo, JobStage
from .argv import find_option, option_value
from .build import ENTRY_MODULE
from .outcome import RunOutcome, read_outcome
from .request import TRAINERS

_SCRIPT = re.compile(r"/trl/scripts/(\w+)\.py$")
# What a finished save leaves in output_dir (a full model, a LoRA adapter, or a reward model's head).
_SAVED = ("config.json", "adapter_config.json", "model.safetensors", "adapter_model.safetensors")


def trainer_of(job: JobInfo) -> str | None:
    """The TRL trainer a job runs (sft, dpo, grpo, kto, reward, rloo), or None for a job that is not training."""
    label = job.labels.get("trainer")
    if label in TRAINERS:
        return label
    argv = job.command
    if ENTRY_MODULE in argv:
        i = argv.index(ENTRY_MODULE)
        if i + 1 < len(argv) and argv[i + 1] in TRAINERS:
            return argv[i + 1]
    for arg in argv:
        match = _SCRIPT.search(arg)
        if match and match.group(1) in TRAINERS:
            return match.group(1)
    return None


def _flag(argv: Sequence[str], name: str) -> bool:
    """A boolean option as TRL's parser reads it: `--name`, `--name true`, `--name=true`."""
    found = find_option(argv, name)
    if found is None:
        return f"--{name}" in argv
    value = found[1]
    return value.startswith("--") or value.lower() in ("true", "1", "yes")


class ModelLocation(BaseModel):
    """Where a training job's model is (or will be), as an assistant can tell the user."""

    output_dir: str | None = Field(default=None, description="folder holding the model, readable by the user")
    hub_repo: str | None = Field(default=None, description="Hub repository the job pushes to")
    saved: bool = Field(description="true when the job finished and its model is there")
    outcome: RunOutcome | None = Field(default=None, description="how the run ended: early stop, best checkpoint")
    text: str


def model_location(job: JobInfo, *, keeps_files: bool) -> ModelLocation | None:
    """Where a training job's model is: its output folder (when the backend keeps the job's files) and the Hub
    repository it pushes to. None for a job that does not train. Nothing is claimed for a job that ended without
    saving (an ERROR before the save, a cancel): the text says so.

    Args:
        keeps_files: the backend leaves the job's output_dir readable after it ends (this machine); False when the
            job's filesystem goes with it (Hugging Face Jobs), so only a push keeps the model.
    """
    if trainer_of(job) is None:
        return None
    hub = option_value(job.command, "hub_model_id") if _flag(job.command, "push_to_hub") else None
    folder = (job.output_dir or option_value(job.command, "output_dir")) if keeps_files else None
    on_disk = bool(folder) and any((Path(folder) / name).is_file() for name in _SAVED)  # type: ignore[arg-type]
    if job.stage == JobStage.COMPLETED:
        places = [p for p in (folder if on_disk else None, f"https://huggingface.co/{hub}" if hub else None) if p]
        text = (f"The trained model is in {' and '.join(places)}." if places
                else "The job completed but its model was not kept: it wrote to the job's own filesystem, which is "
                     "gone (launch again with push_to_hub=true and hub_model_id to keep it).")
        outcome = read_outcome(folder) if on_disk else None
        if outcome is not None and outcome.text():
            text += " " + outcome.text()
        return ModelLocation(output_dir=folder if on_disk else None, hub_repo=hub, saved=bool(places), text=text,
                             outcome=outcome)
    if not job.finished:
        places = [p for p in (folder, f"https://huggingface.co/{hub}" if hub else None) if p]
        text = f"When it completes, the model will be in {' and '.join(places)}." if places else ""
        return ModelLocation(output_dir=folder, hub_repo=hub, saved=False, text=text)
    if on_disk:
        return ModelLocation(output_dir=folder, saved=True,
                             text=f"It ended {job.stage.value} but a saved model is in {folder}.")
    return ModelLocation(saved=False, text=f"It ended {job.stage.value} before saving a model: there is none to use.")
