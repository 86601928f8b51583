"""Training curves from trackio's local store (SQLite or parquet), read-only."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

from .logs import _SUMMARY_KEYS, _number
from .models import MetricsReport, Series
from .summary import build_report


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
                 trainer: str | None = None) -> MetricsReport | None:
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
    report = build_report(series, final=final, source="trackio", trainer=trainer)
    report.text = f"trackio run {found_run!r}: {report.text}"
    return report
