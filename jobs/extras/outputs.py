"""What a job leaves on disk, where the backend keeps its files (`traits.keeps_files`): its checkpoints, the size of
its output folder, its headline metric (from the outcome file the entry module writes), and deleting those files
while the job's record stays.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from pydantic import BaseModel, Field

from ..core.local_tree import human_bytes
from ..core.models import InvalidJobSpec, JobInfo
from ..recipes.outcome import read_outcome

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class Checkpoint(BaseModel):
    name: str
    step: int
    bytes: int


class Outputs(BaseModel):
    """A job's output folder as it is on disk now."""

    folder: str
    bytes: int = Field(description="everything in the folder")
    checkpoints: list[Checkpoint] = Field(default=[], description="checkpoint-N folders, oldest first")

    def text(self) -> str:
        kept = (f"; {len(self.checkpoints)} checkpoint(s): "
                + ", ".join(f"{c.name} ({human_bytes(c.bytes)})" for c in self.checkpoints)
                if self.checkpoints else "; no checkpoints")
        return f"Its outputs take {human_bytes(self.bytes)} in {self.folder}{kept}."


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (links not followed; what cannot be read counts nothing)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def job_folder(job: JobInfo) -> Path | None:
    """The job's output folder on this machine, when it is an absolute path that exists."""
    if not job.output_dir or not os.path.isabs(job.output_dir):
        return None
    folder = Path(job.output_dir)
    return folder if folder.is_dir() else None


def job_outputs(job: JobInfo) -> Outputs | None:
    """The job's checkpoints and the size of its outputs; None when its folder is not on this machine."""
    folder = job_folder(job)
    if folder is None:
        return None
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name)))
    return Outputs(folder=str(folder), bytes=folder_bytes(folder),
                   checkpoints=[Checkpoint(name=p.name, step=step, bytes=folder_bytes(p)) for step, p in found])


def headline_of(job: JobInfo) -> str | None:
    """A finished run's headline, e.g. 'eval_loss 3.214', from its outcome file; None without one."""
    if not job.finished:
        return None
    outcome = read_outcome(job.output_dir) if job_folder(job) else None
    found = outcome.headline() if outcome else None
    return f"{found[0]} {found[1]:.4g}" if found else None


def delete_outputs(job: JobInfo) -> Outputs | None:
    """Delete a finished job's output folder (the job's record stays); what was there, for the answer; None when it
    is already gone (deleting twice changes nothing).

    Raises:
        InvalidJobSpec: (field delete_files) the job has not finished, or it has no folder on this machine.
    """
    if not job.finished:
        raise InvalidJobSpec(f"job {job.id} is {job.stage.value}: its files are still being written. Cancel it "
                             "first (cancel_job), then delete its files.", field="delete_files")
    if not job.output_dir or not os.path.isabs(job.output_dir):
        raise InvalidJobSpec(f"job {job.id} has no output folder on this machine; nothing to delete.",
                             field="delete_files")
    found = job_outputs(job)
    if found is None:
        return None
    shutil.rmtree(found.folder)
    return found
