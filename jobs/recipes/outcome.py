"""A finished run's outcome, read back from the file the entry module writes beside its model (jobside.py): whether
it stopped early and at which global step, which checkpoint is the model, the last and best logged values.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from .trainers import OUTCOME_FILE


class RunOutcome(BaseModel):
    global_step: int = Field(description="the run's global step at its end")
    max_steps: int
    stopped_early: bool = False
    resumed_at: int | None = Field(default=None, description="the global step a resumed run started from")
    metric: str | None = Field(default=None, description="metric_for_best_model")
    best_checkpoint: str | None = Field(default=None, description="the checkpoint loaded as the model at the end")
    best_metric: float | None = None
    last: dict[str, float] = Field(default={}, description="each logged metric's last value")
    best: dict[str, float] = Field(default={}, description="each loss's lowest value")

    def headline(self) -> tuple[str, float] | None:
        """The figure a list shows for the run: its evaluation loss (best when the best model was kept), else its
        last training loss."""
        if "eval_loss" in self.last:
            return "eval_loss", self.best.get("eval_loss", self.last["eval_loss"]) if self.best_checkpoint \
                else self.last["eval_loss"]
        return ("loss", self.last["loss"]) if "loss" in self.last else None

    def text(self) -> str:
        if self.stopped_early:
            best = (f"; the model is the best checkpoint, {self.best_checkpoint} ({self.metric} "
                    f"{self.best_metric:.4g})" if self.best_checkpoint and self.best_metric is not None else "")
            return (f"It stopped early at step {self.global_step} of {self.max_steps}: {self.metric} stopped "
                    f"improving{best}.")
        if self.best_checkpoint and self.best_metric is not None:
            return (f"It ran all {self.global_step} steps; the model is the best checkpoint, {self.best_checkpoint} "
                    f"({self.metric} {self.best_metric:.4g}).")
        return ""


def read_outcome(output_dir: str | None) -> RunOutcome | None:
    """The outcome in `output_dir`, or None when there is none (not finished, not run by our entry, unreadable)."""
    if not output_dir:
        return None
    try:
        return RunOutcome.model_validate(json.loads((Path(output_dir) / OUTCOME_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
