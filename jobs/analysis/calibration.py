"""The user's own finished runs, measured, so that the next forecast starts from them (jobs.forecast).

One small JSON file in the server's state folder keeps, per job launched with a forecast, that forecast; and per
flavor, model-size band, method and kind of trainer (training or generation-bound), the last RECENT runs' measured
speed: train_runtime (TRL's own figure) over the first guess's train time, tokens per second, and start-up (the
job's duration minus train_runtime). Writes go through a temporary file and a rename, so a crash never leaves half
a file; a file that cannot be read counts as empty.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .forecast import Calibration, Forecast, RunSettings, kind_of, size_band
from .metrics.logs import LogParser
from ..core.models import JobInfo, JobsError, JobStage

if TYPE_CHECKING:
    from ..backends.base import Backend

FILE_NAME = "forecast_calibration.json"
RECENT = 10
KEPT_FORECASTS = 2000
_LOCK = threading.Lock()


def calibration_key(*, flavor: str, settings: RunSettings) -> str:
    """flavor|size band|method|kind|trainer: a lookup takes the trainer's own runs, else its kind's."""
    return (f"{flavor}|{size_band(settings.params)}|{settings.method}|{kind_of(settings.trainer)}|"
            f"{settings.trainer}")


class CalibrationStore:
    """Forecasts of launched jobs and measured speeds, in `home`/forecast_calibration.json."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / FILE_NAME

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"forecasts": {}, "runs": {}}
        if not isinstance(data, dict):
            return {"forecasts": {}, "runs": {}}
        data.setdefault("forecasts", {})
        data.setdefault("runs", {})
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def lookup(self, *, flavor: str, settings: RunSettings) -> Calibration | None:
        """The calibration for a run like `settings` on `flavor`, or None before any finished run of its kind."""
        key = calibration_key(flavor=flavor, settings=settings)
        kept = self._read()["runs"]
        runs = kept.get(key) or [r for k, rs in kept.items() if k.rsplit("|", 1)[0] == key.rsplit("|", 1)[0]
                                 for r in rs]
        if not runs:
            return None
        factors = [r["factor"] for r in runs]
        factor = statistics.median(factors)
        speeds = [r["tokens_per_second"] for r in runs if r.get("tokens_per_second")]
        startups = [r["startup_s"] for r in runs if r.get("startup_s") is not None]
        spread = min(2.0, max(1.15, max(factors) / factor * 1.1 if factor > 0 else 1.25))
        return Calibration(runs=len(runs), flavor=flavor, speed_factor=factor,
                           tokens_per_second=statistics.median(speeds) if speeds else None,
                           startup_s=statistics.median(startups) if startups else None, spread=round(spread, 3))

    def remember(self, job_id: str, *, forecast: Forecast, settings: RunSettings) -> None:
        """Keep `forecast` for `job_id`, to compare with what it measures when it ends."""
        with _LOCK:
            data = self._read()
            forecasts = data["forecasts"]
            forecasts[job_id] = {"key": calibration_key(flavor=forecast.flavor, settings=settings),
                                 "flavor": forecast.flavor, "forecast": forecast.model_dump(mode="json"),
                                 "recorded": False}
            for old in list(forecasts)[:-KEPT_FORECASTS]:
                del forecasts[old]
            self._write(data)

    def forecast_of(self, job_id: str) -> Forecast | None:
        entry = self._read()["forecasts"].get(job_id)
        return Forecast.model_validate(entry["forecast"]) if entry else None

    def record(self, job_id: str, *, train_runtime: float, duration_s: float | None) -> bool:
        """Add a finished job's measurement to its calibration; False when it has no forecast or is already in.

        Args:
            train_runtime: TRL's train_runtime (seconds in the training loop).
            duration_s: the job's whole duration (start to end), when known: start-up is what train_runtime leaves.
        """
        if not train_runtime or train_runtime <= 0:
            return False
        with _LOCK:
            data = self._read()
            entry = data["forecasts"].get(job_id)
            if not entry or entry.get("recorded"):
                return False
            fc = Forecast.model_validate(entry["forecast"])
            guess = fc.first_guess_train_seconds
            if guess <= 0:
                return False
            run = {"job_id": job_id, "factor": round(train_runtime / guess, 5),
                   "tokens_per_second": round((fc.tokens + fc.generated_tokens) / train_runtime, 2),
                   "startup_s": round(max(0.0, duration_s - train_runtime), 2) if duration_s else None}
            runs = data["runs"].setdefault(entry["key"], [])
            runs.append(run)
            del runs[:-RECENT]
            entry["recorded"] = True
            entry["actual_seconds"] = duration_s
            entry["train_runtime"] = train_runtime
            self._write(data)
        return True

    def outcome(self, job_id: str) -> dict[str, Any] | None:
        """The job's forecast with, once recorded, its actual duration and train_runtime."""
        return self._read()["forecasts"].get(job_id)


# Lines from the end of a finished job's log that hold TRL's closing summary (train_runtime and the rest).
SUMMARY_TAIL = 60


async def settle(store: CalibrationStore, backend: Backend, job: JobInfo) -> dict[str, Any] | None:
    """The job's forecast and outcome; a COMPLETED job's measured speed goes into the calibration the first time
    it is seen finished (train_runtime from the end of its log, its duration from its timings)."""
    entry = store.outcome(job.id)
    if entry is None or entry.get("recorded") or job.stage != JobStage.COMPLETED:
        return entry
    try:
        chunk = await backend.logs(job.id, tail=SUMMARY_TAIL)
    except JobsError:
        return entry
    parser = LogParser()
    parser.feed(chunk.lines)
    runtime = parser.final.get("train_runtime")
    duration = ((job.finished_at - job.started_at).total_seconds()
                if job.started_at and job.finished_at else None)
    if runtime:
        store.record(job.id, train_runtime=runtime, duration_s=duration)
    return store.outcome(job.id)


def outcome_text(entry: dict[str, Any] | None) -> str | None:
    """'Forecast 3m likely (5m at worst); actual 4m: 1.3x the likely figure.' or the forecast alone."""
    if not entry:
        return None
    fc = Forecast.model_validate(entry["forecast"])
    text = f"Forecast {fc.duration_text()}" + (f" ({fc.calibrated})" if fc.calibrated else "")
    actual = entry.get("actual_seconds")
    if actual:
        text += (f"; actual {actual:.0f}s, {actual / fc.seconds_likely:.2f}x the likely figure (kept to calibrate "
                 f"the next forecast on {fc.flavor})")
    return text + "."
