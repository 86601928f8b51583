"""The shapes of a job's metrics: one series, what it says, and a job's report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Goal = Literal["min", "max"]
Trend = Literal["decreasing", "flat", "increasing"]


class Series(BaseModel):
    """One logged quantity. `values[i]` is None where the logged value was NaN or infinite."""

    name: str
    steps: list[int] = Field(default_factory=list)
    values: list[float | None] = Field(default_factory=list, description="None where the value was NaN or inf")

    def points(self) -> list[tuple[int, float]]:
        """The finite (step, value) pairs."""
        return [(s, v) for s, v in zip(self.steps, self.values, strict=True) if v is not None]

    def downsampled(self, max_points: int) -> Series:
        """At most `max_points` points, evenly spread, the first and last kept (and every NaN/inf, which matter)."""
        n = len(self.steps)
        if n <= max_points or max_points < 2:
            return self.model_copy(deep=True)
        keep = {round(i * (n - 1) / (max_points - 1)) for i in range(max_points)}
        keep |= {i for i, v in enumerate(self.values) if v is None}
        order = sorted(keep)
        return Series(name=self.name, steps=[self.steps[i] for i in order], values=[self.values[i] for i in order])


class SeriesSummary(BaseModel):
    """What a reader wants to know about one curve (each figure is defined in jobs/metrics/summary.py)."""

    name: str
    count: int = Field(description="logged values, NaN/inf included")
    points: int = Field(default=0, description="finite values: what every figure below rests on")
    first: float | None = None
    last: float | None = None
    last_step: int | None = None
    min: float | None = None
    max: float | None = None
    goal: Goal | None = Field(default=None, description="'min' for losses, 'max' for rewards and accuracies")
    best: float | None = None
    best_step: int | None = None
    change: float | None = Field(default=None, description="last - first")
    change_pct: float | None = Field(
        default=None, description="change in percent of |first|; null when first is about zero")
    trend: Trend | None = Field(
        default=None, description="same direction at every step, or the last window against the one before, "
                                  "beyond the noise; null under 3 points")
    monotonic: bool = Field(default=False, description="it moved the same way at every logged step")
    trend_points: int | None = Field(default=None, description="the points the trend compares")
    noise: float | None = Field(default=None, description="spread of one step's change, net of any steady slope")
    plateau: bool = Field(default=False, description="improved beyond the noise, and flat over the last window")
    non_finite: int = Field(default=0, description="NaN or inf values")
    first_non_finite_step: int | None = None
    diverged: bool = Field(default=False, description="NaN/inf, or a loss that climbed far above its early minimum")
    text: str = ""


class MetricsReport(BaseModel):
    """The series of one job and what they say."""

    source: Literal["logs", "trackio", "none"] = "logs"
    series: dict[str, Series] = Field(default_factory=dict)
    summaries: dict[str, SeriesSummary] = Field(default_factory=dict)
    final: dict[str, float] = Field(default_factory=dict, description="the end-of-training line: train_loss, ...")
    trainer: str | None = Field(default=None, description="the TRL trainer the verdict is fitted to")
    main: str | None = Field(default=None, description="the series the verdict leads with: loss, reward, accuracy")
    last_step: int | None = None
    total_steps: int | None = Field(default=None, description="from the training progress bar, when printed")
    step_unit: Literal["step", "log"] = Field(
        default="step", description="'log' when steps are log-line ordinals because logging_steps was unknown")
    has_nan: bool = False
    diverged: bool = False
    plateau: bool = Field(default=False, description="the main series has flattened")
    lr_near_zero: bool = Field(default=False, description="the learning rate ended at 5% of its peak or less")
    text: str = ""
