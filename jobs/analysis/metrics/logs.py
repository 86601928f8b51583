"""Training curves from a job's log: the dicts TRL/transformers print, and the progress bar, read line by line.

Transformers prints one dict per logging step, e.g. (TRL 1.16, values as strings, after a tqdm fragment and '\\r'):

    {'loss': '6.007', 'grad_norm': '3.018', 'learning_rate': '2e-05', ..., 'epoch': '0.0625'}

Older versions print floats (and bare `nan`). The dicts carry no step number, so a log line's step is its ordinal
times `logging_steps` when that is known, and the ordinal otherwise; eval lines are placed by their epoch. Every dict
is read with `ast.literal_eval`, never `eval`.

Nothing here imports numpy or matplotlib: a few hundred points need no more than arithmetic.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .models import MetricsReport, Series
from .summary import build_report

# A log dict longer than this is not a transformers log line; don't hand it to the parser.
_MAX_DICT_CHARS = 20_000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A tqdm bar with no description ("Loading weights: 100%|..." has one) counting iterations: the training loop's.
# Nested bars (evaluation) end with a cursor-up escape; they are not the training bar.
_BAR = re.compile(r"(?:^|[\r\n\]])\s*(\d{1,3})%\|[^|\r\n]*\|\s*(\d+)/(\d+)\s*\[([^\]\r\n]*)\](\x1b\[A)?")
_BARE_NONFINITE = re.compile(r"(?<=[:\[,(\s])(-?inf|nan)(?=\s*[,}\])])")
_TENSOR = re.compile(r"tensor\(\s*([^(),]+?)\s*(?:,[^()]*)?\)")
_SUMMARY_KEYS = ("train_runtime", "train_loss", "train_samples_per_second", "train_steps_per_second", "total_flos")
_STEP_KEYS = ("step", "global_step")
# The entry module's line when a run resumes from a checkpoint (recipes/jobside.py): its log then counts from there.
_RESUMED = re.compile(r"\[trl-jobs\] resumed at global step (\d+)")


# --- reading one line ---


def _clock(text: str) -> float | None:
    """tqdm's elapsed time, '01:05' or '1:02:03', in seconds."""
    try:
        parts = [int(p) for p in text.strip().split(":")]
    except ValueError:
        return None
    return float(sum(p * 60**i for i, p in enumerate(reversed(parts)))) if 1 < len(parts) <= 3 else None


def eta_seconds(parser: LogParser) -> tuple[float, float] | None:
    """(seconds left, seconds a step) from this run's own progress bar: its elapsed time over the steps done;
    None before a step is done or without a bar."""
    done, total, elapsed = parser.progress, parser.total_steps, parser.elapsed_s
    if not done or not total or elapsed is None or done >= total or elapsed <= 0:
        return None
    step = elapsed / done
    return (total - done) * step, step


def _number(value: Any) -> float | None:
    """A logged value as a float (NaN and inf included), or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_log_dict(text: str) -> dict[str, float] | None:
    """The numeric entries of a transformers log dict found in `text`, or None when there is none.

    Accepts TRL 1.16's string values, older float values, bare `nan`/`inf` and `tensor(x)` values, with any tqdm
    fragment or escape codes before the dict.

    Example:
        >>> parse_log_dict("\\r 8%|| 1/12 [00:00]\\r{'loss': '6.007', 'epoch': '0.0625'}")
        {'loss': 6.007, 'epoch': 0.0625}
    """
    start = text.find("{'")
    if start < 0:
        start = text.find('{"')
    end = text.rfind("}")
    if start < 0 or end < start or end - start > _MAX_DICT_CHARS:
        return None
    body = _ANSI.sub("", text[start:end + 1])
    body = _TENSOR.sub(r"\1", body)
    body = _BARE_NONFINITE.sub(r"'\1'", body)
    try:
        parsed = ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(parsed, dict):
        return None
    numbers = {}
    for key, value in parsed.items():
        number = _number(value)
        if isinstance(key, str) and number is not None:
            numbers[key] = number
    return numbers or None


# --- reading a log ---


# Logged points kept per job: far more than a plot shows (max_points is at most 5000), a few tens of MB at most.
MAX_ENTRIES = 100_000


@dataclass(slots=True)
class _Entry:
    kind: Literal["train", "eval"]
    ordinal: int  # of the training line at or before this entry
    epoch: float | None
    step: int | None  # when the line said so
    values: dict[str, float]


class LogParser:
    """Reads a job's log incrementally: feed lines as they arrive, then ask for the series or a report.

    Args:
        logging_steps: the run's `logging_steps` when known (a ratio below 1 is resolved against the total steps
            once the progress bar shows it). Without it, steps are log-line ordinals until the end-of-training line
            and the progress bar's total let them be rescaled.
    """

    def __init__(self, *, logging_steps: float | None = None) -> None:
        self.logging_steps = logging_steps
        self._entries: list[_Entry] = []
        self._train_count = 0
        self.final: dict[str, float] = {}
        self.lines_read = 0
        self.lines_parsed = 0  # that held a metrics dict (training, evaluation or the end-of-training summary)
        self.progress: int | None = None
        self.total_steps: int | None = None
        self.elapsed_s: float | None = None  # the training bar's own elapsed time at `progress`
        self.resumed_at = 0

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            # A backend may hand several lines in one (a chunk of the job's output, as Hugging Face's stream can):
            # each dict is read on its own, or literal_eval sees two and reads none.
            for one in line.split("\n"):
                self.lines_read += bool(one.strip())
                for segment in one.split("\r"):
                    self._segment(segment)

    def observe_progress(self, lines: Iterable[str]) -> None:
        """Read only the progress bar in `lines` (the newest lines, a live bar not yet ended by a newline
        included), leaving the curves alone: those are fed once, in order, through `feed`."""
        for line in lines:
            for segment in line.split("\r"):
                self._bar(segment)

    def _bar(self, segment: str) -> None:
        for match in _BAR.finditer(segment):
            done, total, rate, nested = int(match.group(2)), int(match.group(3)), match.group(4), match.group(5)
            if nested or not ("it/s" in rate or "s/it" in rate):
                continue
            if self.total_steps is None:
                self.total_steps = total
            if total == self.total_steps and done >= (self.progress or 0):
                self.progress = done
                self.elapsed_s = _clock(rate.split("<", 1)[0]) if "<" in rate else self.elapsed_s

    def _segment(self, segment: str) -> None:
        if (resumed := _RESUMED.search(segment)) is not None:
            self.resumed_at = int(resumed.group(1))
            self.progress = max(self.progress or 0, self.resumed_at)
        self._bar(segment)
        if "{" not in segment:
            return
        values = parse_log_dict(segment)
        if not values:
            return
        self.lines_parsed += 1
        epoch = values.pop("epoch", None)
        step = next((int(values.pop(k)) for k in _STEP_KEYS if k in values and math.isfinite(values[k])), None)
        if "train_runtime" in values:  # the end-of-training summary, not a point on the curves
            self.final.update(values)
            return
        keys = list(values)
        if not keys:
            return
        if all(k.startswith(("eval_", "test_")) for k in keys):
            self._entries.append(_Entry(kind="eval", ordinal=self._train_count, epoch=epoch, step=step,
                                        values=values))
        else:
            self._train_count += 1
            self._entries.append(_Entry(kind="train", ordinal=self._train_count, epoch=epoch, step=step,
                                        values=values))
        if len(self._entries) > MAX_ENTRIES:
            # A parser is kept between calls (metrics.job.ParsedLogs): its memory stays bounded by keeping every
            # other point of the older half; each entry keeps its own ordinal, so the steps stay right.
            half = len(self._entries) // 2
            self._entries[:half] = self._entries[:half:2]

    def _stride(self) -> tuple[int, Literal["step", "log"]]:
        """Steps per training log line, and whether that is known."""
        logging_steps = self.logging_steps
        if logging_steps is not None and logging_steps >= 1:
            return int(logging_steps), "step"
        if logging_steps is not None and 0 < logging_steps < 1 and self.total_steps:
            return max(1, math.ceil(logging_steps * self.total_steps)), "step"
        # The run ended: its last log was at the largest multiple of the stride within the total.
        if self.final and self.total_steps and self._train_count:
            return max(1, (self.total_steps - self.resumed_at) // self._train_count), "step"
        return 1, "log"

    def series(self) -> tuple[dict[str, Series], Literal["step", "log"]]:
        stride, unit = self._stride()
        out: dict[str, Series] = {}
        last_train_step, last_train_epoch = 0, None
        for entry in self._entries:
            if entry.kind == "train":
                step = entry.step if entry.step is not None else self.resumed_at + entry.ordinal * stride
                last_train_step, last_train_epoch = step, entry.epoch
            elif entry.step is not None:
                step = entry.step
            elif entry.epoch is not None and last_train_epoch and last_train_step:
                # Evaluation runs at its own interval; the epoch places it between training logs.
                step = round(entry.epoch * last_train_step / last_train_epoch)
            else:
                step = last_train_step
            for name, value in entry.values.items():
                target = out.setdefault(name, Series(name=name))
                target.steps.append(step)
                target.values.append(value if math.isfinite(value) else None)
            if entry.epoch is not None and entry.kind == "train":
                target = out.setdefault("epoch", Series(name="epoch"))
                target.steps.append(step)
                target.values.append(entry.epoch)
        return out, unit

    def latest(self, name: str) -> tuple[int, float | None] | None:
        """The last (step, value) of a series; value None when it was NaN/inf."""
        series, _ = self.series()
        if name not in series or not series[name].steps:
            return None
        return series[name].steps[-1], series[name].values[-1]

    def report(self, *, trainer: str | None = None) -> MetricsReport:
        series, unit = self.series()
        report = build_report(series, final=self.final, source="logs", step_unit=unit,
                              total_steps=self.total_steps, trainer=trainer)
        report.lines_read, report.lines_parsed = self.lines_read, self.lines_parsed
        if not series:
            report.text = (f"No metrics logged yet: {self.lines_read} log line(s) read, none a training metrics "
                           "line (TRL prints one dict, e.g. {'loss': ...}, every logging_steps).")
        return report


def metrics_from_log(lines: Iterable[str], *, logging_steps: float | None = None,
                     trainer: str | None = None) -> MetricsReport:
    """Parse a job's log lines into a report.

    Args:
        lines: the log, as lines (a line may hold several '\\r'-separated tqdm updates).
        logging_steps: the run's `logging_steps` when known; see LogParser.
        trainer: the TRL trainer (sft, dpo, grpo, ...), which decides what the verdict leads with.

    Example:
        >>> r = metrics_from_log(["{'loss': '2.0', 'epoch': '0.5'}", "{'loss': '1.0', 'epoch': '1.0'}"])
        >>> r.series["loss"].values
        [2.0, 1.0]
    """
    parser = LogParser(logging_steps=logging_steps)
    parser.feed(lines)
    return parser.report(trainer=trainer)
