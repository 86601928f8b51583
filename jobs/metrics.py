"""Training curves from a job: TRL/transformers log lines, or trackio's local store, summarised for a model to read.

Transformers prints one dict per logging step, e.g. (TRL 1.16, values as strings, after a tqdm fragment and '\\r'):

    {'loss': '6.007', 'grad_norm': '3.018', 'learning_rate': '2e-05', ..., 'epoch': '0.0625'}

Older versions print floats (and bare `nan`). The dicts carry no step number, so a log line's step is its ordinal
times `logging_steps` when that is known, and the ordinal otherwise; eval lines are placed by their epoch. Every dict
is read with `ast.literal_eval`, never `eval`.

Nothing here imports numpy or matplotlib: a few hundred points need no more than arithmetic.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

Goal = Literal["min", "max"]
Trend = Literal["decreasing", "flat", "increasing"]

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


# --- the models ---


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
    """What a reader wants to know about one curve."""

    name: str
    count: int
    first: float | None = None
    last: float | None = None
    last_step: int | None = None
    min: float | None = None
    max: float | None = None
    goal: Goal | None = Field(default=None, description="'min' for losses, 'max' for rewards and accuracies")
    best: float | None = None
    best_step: int | None = None
    trend: Trend | None = Field(default=None, description="over the last window; None with fewer than 3 points")
    relative_change: float | None = Field(
        default=None, description="fitted change over the last window, relative to the series' level")
    plateau: bool = Field(default=False, description="flat over the last window, with enough points to say so")
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
    main: str | None = Field(default=None, description="the series the verdict is about (usually 'loss')")
    last_step: int | None = None
    total_steps: int | None = Field(default=None, description="from the training progress bar, when printed")
    step_unit: Literal["step", "log"] = Field(
        default="step", description="'log' when steps are log-line ordinals because logging_steps was unknown")
    has_nan: bool = False
    diverged: bool = False
    plateau: bool = Field(default=False, description="the main loss has flattened")
    text: str = ""


# --- reading one line ---


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
        self.progress: int | None = None
        self.total_steps: int | None = None

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            for segment in line.split("\r"):
                self._segment(segment)

    def _segment(self, segment: str) -> None:
        for match in _BAR.finditer(segment):
            done, total, rate, nested = int(match.group(2)), int(match.group(3)), match.group(4), match.group(5)
            if nested or not ("it/s" in rate or "s/it" in rate):
                continue
            if self.total_steps is None:
                self.total_steps = total
            if total == self.total_steps:
                self.progress = max(self.progress or 0, done)
        if "{" not in segment:
            return
        values = parse_log_dict(segment)
        if not values:
            return
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

    def _stride(self) -> tuple[int, Literal["step", "log"]]:
        """Steps per training log line, and whether that is known."""
        logging_steps = self.logging_steps
        if logging_steps is not None and logging_steps >= 1:
            return int(logging_steps), "step"
        if logging_steps is not None and 0 < logging_steps < 1 and self.total_steps:
            return max(1, math.ceil(logging_steps * self.total_steps)), "step"
        # The run ended: its last log was at the largest multiple of the stride within the total.
        if self.final and self.total_steps and self._train_count:
            return max(1, self.total_steps // self._train_count), "step"
        return 1, "log"

    def series(self) -> tuple[dict[str, Series], Literal["step", "log"]]:
        stride, unit = self._stride()
        out: dict[str, Series] = {}
        last_train_step, last_train_epoch = 0, None
        for entry in self._entries:
            if entry.kind == "train":
                step = entry.step if entry.step is not None else entry.ordinal * stride
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

    def report(self, **summary_options: Any) -> MetricsReport:
        series, unit = self.series()
        return build_report(series, final=self.final, source="logs", step_unit=unit, total_steps=self.total_steps,
                            **summary_options)


def metrics_from_log(lines: Iterable[str], *, logging_steps: float | None = None, window: int | None = None,
                     flat_tolerance: float = 0.01) -> MetricsReport:
    """Parse a job's log lines into a report.

    Args:
        lines: the log, as lines (a line may hold several '\\r'-separated tqdm updates).
        logging_steps: the run's `logging_steps` when known; see LogParser.
        window: points in the trend window; default a third of the series, at least 3.
        flat_tolerance: a relative change below this over the window counts as flat.

    Example:
        >>> r = metrics_from_log(["{'loss': '2.0', 'epoch': '0.5'}", "{'loss': '1.0', 'epoch': '1.0'}"])
        >>> r.series["loss"].values
        [2.0, 1.0]
    """
    parser = LogParser(logging_steps=logging_steps)
    parser.feed(lines)
    return parser.report(window=window, flat_tolerance=flat_tolerance)


# --- what a job's command says about its metrics ---


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of `--name value` or `--name=value` in an argv (the last one wins, as argparse does)."""
    found = None
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            found = arg.split("=", 1)[1]
    return found


def logging_steps_from_command(argv: Sequence[str]) -> float | None:
    """The `--logging_steps` a job's command passes, or None."""
    raw = _option(argv, "logging_steps")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def trackio_target(argv: Sequence[str]) -> tuple[str, str | None] | None:
    """(project, run name) when a job's command reports to trackio, else None.

    transformers' defaults apply: project "huggingface"; no run name means "the run that logged last".
    """
    report_to: list[str] = []
    collecting = False
    for arg in argv:  # `--report_to trackio wandb` takes several values
        if arg.startswith("--"):
            collecting = arg == "--report_to"
            if arg.startswith("--report_to="):
                report_to.append(arg.split("=", 1)[1])
        elif collecting:
            report_to.append(arg)
    if not any(v.strip() in ("trackio", "all") for value in report_to for v in value.split(",")):
        return None
    return _option(argv, "project") or "huggingface", _option(argv, "run_name")


# --- trackio's local store ---


def default_trackio_dir() -> Path:
    """Where trackio keeps its projects: $TRACKIO_DIR, else $HF_HOME/trackio (~/.cache/huggingface/trackio)."""
    if os.environ.get("TRACKIO_DIR"):
        return Path(os.environ["TRACKIO_DIR"]).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if not hf_home:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        hf_home = str(Path(cache) / "huggingface")
    return Path(hf_home).expanduser() / "trackio"


def _safe_project(project: str) -> str:
    # trackio's own file naming: alphanumerics, '-' and '_'.
    safe = "".join(c for c in project if c.isalnum() or c in "-_").rstrip()
    return safe or "default"


def _trackio_metric_name(key: str) -> str | None:
    """Undo transformers' rewrite_logs: 'train/loss' -> 'loss', 'eval/loss' -> 'eval_loss'."""
    if key in ("timestamp", "step", "time", "project", "run", "train/global_step"):
        return None
    for prefix, replacement in (("train/", ""), ("eval/", "eval_"), ("test/", "test_")):
        if key.startswith(prefix):
            return replacement + key[len(prefix):]
    return key


def _trackio_rows_sqlite(db: Path, run: str | None) -> tuple[str | None, list[tuple[int, dict]]]:
    uri = db.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(metrics)")}
        if not {"step", "metrics"} <= columns:
            return None, []
        if "run_name" in columns:
            name_sql, join = "m.run_name", ""
        elif "run_id" in columns:
            run_columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            if not {"run_id", "run_name"} <= run_columns:
                return None, []
            name_sql, join = "r.run_name", " JOIN runs r ON r.run_id = m.run_id"
        else:
            return None, []
        order = "m.timestamp" if "timestamp" in columns else "m.rowid"
        if run is None:
            found = conn.execute(f"SELECT {name_sql} FROM metrics m{join} ORDER BY {order} DESC LIMIT 1").fetchone()
            if found is None:
                return None, []
            run = found[0]
        rows = conn.execute(
            f"SELECT m.step, m.metrics FROM metrics m{join} WHERE {name_sql} = ? ORDER BY m.step, {order}", (run,))
        return run, [(int(step), _json_dict(raw)) for step, raw in rows]
    finally:
        conn.close()


def _trackio_rows_parquet(root: Path, run: str | None) -> tuple[str | None, list[tuple[int, dict]]]:
    # Newer trackio keeps a project as a folder of parquet parts; read it only if pyarrow is there.
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None, []
    runs = pq.read_table(root / "runs.parquet").to_pylist() if (root / "runs.parquet").exists() else []
    names = {str(r.get("run_id")): r.get("run_name") for r in runs}
    rows: list[tuple[str, str, int, dict]] = []
    for part in sorted((root / "metrics").glob("*.parquet")):
        for record in pq.read_table(part).to_pylist():
            name = names.get(str(record.get("run_id")))
            if name is None or record.get("step") is None:
                continue
            rows.append((str(record.get("timestamp") or ""), name, int(record["step"]), _json_dict(record["metrics"])))
    if not rows:
        return None, []
    if run is None:
        run = max(rows, key=lambda r: r[0])[1]
    chosen = sorted((r for r in rows if r[1] == run), key=lambda r: r[2])
    return run, [(step, metrics) for _, _, step, metrics in chosen]


def _json_dict(raw: Any) -> dict:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_trackio(*, project: str = "huggingface", run: str | None = None, directory: str | Path | None = None,
                 window: int | None = None, flat_tolerance: float = 0.01) -> MetricsReport | None:
    """A report from trackio's local store, or None when the project or run is not there.

    Reads `<dir>/<project>.db` (SQLite; both the older schema with `project_name` and the later one with
    `run_name`) or the newer `<dir>/<project>.trackio/` parquet folder. Never writes to the store.

    Args:
        project: the trackio project (transformers' `project` argument; "huggingface" by default).
        run: the run name; None picks the run that logged last.
        directory: trackio's directory; default as trackio resolves it (see default_trackio_dir).
    """
    base = Path(directory) if directory is not None else default_trackio_dir()
    safe = _safe_project(project)
    found_run, rows = None, []
    try:
        if (base / f"{safe}.db").is_file():
            found_run, rows = _trackio_rows_sqlite(base / f"{safe}.db", run)
        elif (base / f"{safe}.trackio").is_dir():
            found_run, rows = _trackio_rows_parquet(base / f"{safe}.trackio", run)
    except (sqlite3.Error, OSError, ValueError):
        return None
    if not rows:
        return None
    series: dict[str, Series] = {}
    final: dict[str, float] = {}
    for row_step, metrics in rows:
        global_step = _number(metrics.get("train/global_step"))
        step = int(global_step) if global_step is not None and math.isfinite(global_step) else row_step
        for key, raw in metrics.items():
            name = _trackio_metric_name(key)
            value = _number(raw)
            if name is None or value is None:
                continue
            if name in _SUMMARY_KEYS:
                final[name] = value
                continue
            target = series.setdefault(name, Series(name=name))
            target.steps.append(step)
            target.values.append(value if math.isfinite(value) else None)
    report = build_report(series, final=final, source="trackio", window=window, flat_tolerance=flat_tolerance)
    report.text = f"trackio run {found_run!r}: {report.text}"
    return report


# --- summaries ---


def goal_of(name: str) -> Goal | None:
    """Whether lower or higher is better for a series of that name, or None when neither (lr, grad_norm, ...)."""
    lowered = name.lower()
    if lowered.endswith("loss") or "perplexity" in lowered:
        return "min"
    if "std" in lowered or "kl" in lowered.split("/") or lowered.startswith("kl"):
        return None
    if "reward" in lowered or "accurac" in lowered or "margin" in lowered:
        return "max"
    return None


def _fmt(value: float | None) -> str:
    if value is None:
        return "NaN"
    return f"{value:.4g}"


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def summarize(series: Series, *, window: int | None = None, flat_tolerance: float = 0.01,
              min_plateau_points: int = 6, step_word: str = "step") -> SeriesSummary:
    """Last, best, trend over the last window, NaN, divergence and plateau for one series.

    The trend is the least-squares slope over the last `window` points (default a third, at least 3), times the
    window's span, relative to the window's level (or a tenth of the series' range when the level is near zero).
    Below `flat_tolerance` it is flat; flat with at least `min_plateau_points` points is a plateau.
    """
    goal = goal_of(series.name)
    pairs = series.points()
    non_finite = [s for s, v in zip(series.steps, series.values, strict=True) if v is None]
    summary = SeriesSummary(name=series.name, count=len(series.values), goal=goal, non_finite=len(non_finite),
                            first_non_finite_step=non_finite[0] if non_finite else None)
    if series.steps:
        summary.last_step = series.steps[-1]
        summary.last = series.values[-1]
    if not pairs:
        summary.diverged = bool(non_finite)
        summary.text = f"{series.name}: no finite values" + (" (NaN/inf)" if non_finite else "")
        return summary
    values = [v for _, v in pairs]
    summary.first = values[0]
    summary.min, summary.max = min(values), max(values)
    if goal is not None:
        pick = min if goal == "min" else max
        best_step, best = pick(pairs, key=lambda p: p[1])
        summary.best, summary.best_step = best, best_step

    n = len(pairs)
    if n >= 3:
        size = min(n, max(3, window or math.ceil(n / 3)))
        tail = pairs[-size:]
        xs, ys = [float(s) for s, _ in tail], [v for _, v in tail]
        span = xs[-1] - xs[0]
        change = _slope(xs, ys) * span if span else ys[-1] - ys[0]
        scale = max(abs(sum(ys) / len(ys)), 0.1 * (summary.max - summary.min), 1e-12)
        relative = change / scale
        summary.relative_change = relative
        summary.trend = "flat" if abs(relative) < flat_tolerance else ("decreasing" if relative < 0 else "increasing")
        summary.plateau = summary.trend == "flat" and n >= min_plateau_points
        before = pairs[:-size]
        if summary.plateau and len(before) >= 2 and span:
            # A curve that is merely slowing down is not flat yet: its recent rate must also be small next to
            # the rate it had before the window.
            xs_before = [float(s) for s, _ in before]
            earlier = _slope(xs_before, [v for _, v in before])
            earlier_moved = abs(earlier * (xs_before[-1] - xs_before[0])) / scale >= flat_tolerance
            summary.plateau = not earlier_moved or abs(change / span) <= 0.25 * abs(earlier)
        if goal == "min" and n >= 4:
            early = values[:-size] or values[:1]
            early_min = min(early)
            late = sum(ys) / len(ys)
            # Climbed back by more than half its level or half the improvement it had made: not noise.
            summary.diverged = late - early_min > 0.5 * max(abs(early_min), abs(values[0] - early_min), 1e-8)
    summary.diverged = summary.diverged or bool(non_finite)
    summary.text = _series_text(summary, step_word=step_word)
    return summary


def _series_text(s: SeriesSummary, span: str = "", *, step_word: str = "step") -> str:
    text = f"{s.name} {_fmt(s.first)} -> {_fmt(s.last)}{span}"
    if s.best is not None and s.best != s.last:
        text += f" (best {_fmt(s.best)} at {step_word} {s.best_step})"
    if s.trend is not None:
        if s.plateau:
            text += f", flattened (changed {abs(s.relative_change or 0):.1%} over the last window)"
        elif s.trend == "flat":
            text += ", flat"
        else:
            still = "still " if (s.goal == "min") == (s.trend == "decreasing") and s.goal else ""
            text += f", {still}{s.trend}"
    if s.non_finite:
        text += f", {s.non_finite} NaN/inf from {step_word} {s.first_non_finite_step}"
    elif s.diverged:
        text += ", diverged (far above its early minimum)"
    return text


def lr_schedule_shape(values: Sequence[float | None]) -> str | None:
    """'constant', 'linear decay', 'warmup then linear decay', 'non-linear decay (e.g. cosine)', 'warmup', ..."""
    ys = [v for v in values if v is not None]
    if len(ys) < 2:
        return None
    top = max(ys)
    if top == 0 or (top - min(ys)) <= 1e-3 * abs(top):
        return "constant"
    peak = ys.index(top)
    if peak == len(ys) - 1 and ys[0] < top:
        return "warmup"
    warmup = peak > 0 and ys[0] < 0.9 * top
    after = ys[peak:]
    if any(b > a * (1 + 1e-6) for a, b in zip(after, after[1:], strict=False)):
        return "varying"
    if len(after) < 3:
        shape = "decay"
    else:
        xs = list(range(len(after)))
        slope = _slope(xs, after)
        intercept = sum(after) / len(after) - slope * sum(xs) / len(xs)
        residual = max(abs(y - (intercept + slope * x)) for x, y in zip(xs, after, strict=True))
        shape = "linear decay" if residual <= 0.02 * (max(after) - min(after)) else "non-linear decay (e.g. cosine)"
    return f"warmup then {shape}" if warmup else shape


def _main_series(names: Iterable[str]) -> str | None:
    names = list(names)
    for preferred in ("loss", "train_loss", "reward", "eval_loss"):
        if preferred in names:
            return preferred
    return next((n for n in names if n.endswith("loss")), None)


def build_report(series: dict[str, Series], *, final: dict[str, float] | None = None,
                 source: Literal["logs", "trackio", "none"] = "logs", step_unit: Literal["step", "log"] = "step",
                 total_steps: int | None = None, window: int | None = None,
                 flat_tolerance: float = 0.01) -> MetricsReport:
    """Summaries and a one-paragraph verdict for a set of series."""
    word = "step" if step_unit == "step" else "log line"
    summaries = {name: summarize(s, window=window, flat_tolerance=flat_tolerance, step_word=word)
                 for name, s in series.items()}
    main = _main_series(series)
    last_step = max((s.steps[-1] for s in series.values() if s.steps), default=None)
    # A NaN train_loss would reach JSON as null where a number is promised; the series already say NaN.
    final = {k: v for k, v in (final or {}).items() if math.isfinite(v)}
    report = MetricsReport(source=source, series=series, summaries=summaries, final=final, main=main,
                           last_step=last_step, total_steps=total_steps, step_unit=step_unit)
    report.has_nan = any(s.non_finite for s in summaries.values())
    report.diverged = bool(main and summaries[main].diverged) or report.has_nan
    report.plateau = bool(main and summaries[main].plateau)
    report.text = _report_text(report)
    return report


def _report_text(report: MetricsReport) -> str:
    if not report.series:
        return "No metrics logged yet (no training log lines found)."
    parts: list[str] = []
    unit = "steps" if report.step_unit == "step" else "log lines"
    if report.main:
        main = report.summaries[report.main]
        span = f" over {report.last_step} {unit}" if report.last_step else ""
        if report.total_steps and report.step_unit == "step":
            span += f" (of {report.total_steps})"
        parts.append(_series_text(main, span, step_word="step" if report.step_unit == "step" else "log line"))
    for name in report.summaries:
        if name != report.main and (name.startswith("eval_") and name.endswith("loss") or goal_of(name) == "max"
                                    and "/" not in name):
            parts.append(report.summaries[name].text)
    if "learning_rate" in report.series:
        lr = report.summaries["learning_rate"]
        shape = lr_schedule_shape(report.series["learning_rate"].values)
        parts.append(f"learning_rate {_fmt(lr.first)} -> {_fmt(lr.last)}" + (f", {shape}" if shape else ""))
    if "grad_norm" in report.summaries and report.summaries["grad_norm"].last is not None:
        parts.append(f"grad_norm last {_fmt(report.summaries['grad_norm'].last)}")
    bad = [s for s in report.summaries.values() if s.non_finite]
    if bad:
        first = min(s.first_non_finite_step or 0 for s in bad)
        names = ", ".join(s.name for s in bad[:4])
        word = "step" if report.step_unit == "step" else "log line"
        parts.append(f"NaN/inf in {names} from {word} {first}: training has broken down")
    elif report.diverged:
        parts.append(f"{report.main} diverged")
    else:
        parts.append("no NaN or divergence")
    if report.plateau:
        parts.append(f"{report.main} has flattened")
    text = "; ".join(parts) + "."
    if report.final:
        done = ", ".join(f"{k} {_fmt(report.final[k])}" for k in ("train_loss", "train_runtime") if k in report.final)
        text += f" Training finished ({done})." if done else " Training finished."
    return text
