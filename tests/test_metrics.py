"""jobs.metrics on a real TRL run's log, on the other shapes transformers prints, and on trackio's local store."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from trl_jobs_mcp.jobs.analysis.metrics import (
    LogParser,
    lr_schedule_shape,
    metrics_from_log,
    parse_log_dict,
    read_trackio,
)

# Its module fixture runs real TRL training (measured up to 211 s under a loaded shared machine): more than
# the suite's per-test timeout (pyproject), which fits every other test.
pytestmark = pytest.mark.timeout(360)

MAX_STEPS, LOGGING_STEPS, EVAL_STEPS = 12, 2, 6


@pytest.fixture(scope="module")
def sft_log(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The combined stdout/stderr of one real tiny SFT run, with evaluation, as a job's log holds it."""
    out = tmp_path_factory.mktemp("sft_metrics")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", HF_HOME=str(out / "hf_home"))
    done = subprocess.run(
        [sys.executable, "-m", "trl.scripts.sft", "--model_name_or_path", str(tiny["model"]),
         "--dataset_name", str(tiny["sft"]), "--output_dir", str(out / "run"), "--report_to", "none",
         "--bf16", "false", "--save_strategy", "no", "--learning_rate", "1e-3",
         "--per_device_train_batch_size", "4", "--max_steps", str(MAX_STEPS), "--logging_steps", str(LOGGING_STEPS),
         "--eval_strategy", "steps", "--eval_steps", str(EVAL_STEPS), "--dataset_test_split", "train"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:]
    # Keep '\r' inside lines, as a log file read line by line does: the parser must split tqdm updates itself.
    return done.stdout.split("\n")


def test_real_sft_log_gives_the_loss_curve(sft_log: list[str]) -> None:
    report = metrics_from_log(sft_log, logging_steps=LOGGING_STEPS)
    loss = report.series["loss"]
    assert loss.steps == list(range(LOGGING_STEPS, MAX_STEPS + 1, LOGGING_STEPS))
    values = [v for v in loss.values]
    assert all(v is not None and math.isfinite(v) for v in values)
    falls = sum(b < a for a, b in zip(values, values[1:], strict=False))  # type: ignore[operator]
    assert values[-1] < values[0] and falls >= 0.7 * (len(values) - 1)  # type: ignore[operator]
    assert report.series["eval_loss"].steps == [EVAL_STEPS, MAX_STEPS]
    assert report.total_steps == MAX_STEPS and report.last_step == MAX_STEPS
    assert "train_loss" in report.final and "train_runtime" in report.final
    assert lr_schedule_shape(report.series["learning_rate"].values) == "linear decay"
    summary = report.summaries["loss"]
    assert summary.goal == "min" and summary.best == min(values) and not summary.diverged  # type: ignore[type-var]
    assert summary.trend == "decreasing"
    assert report.summaries["mean_token_accuracy"].goal == "max"
    assert not report.has_nan and report.main == "loss"
    assert report.text.startswith(f"loss {values[0]:.4g} -> {values[-1]:.4g} (")
    assert f"over {MAX_STEPS} steps" in report.text
    assert "no NaN" in report.text and "linear decay" in report.text and "Training finished" in report.text


def test_steps_are_inferred_once_the_run_has_ended(sft_log: list[str]) -> None:
    """Without logging_steps the end-of-training line and the progress bar's total fix the stride."""
    report = metrics_from_log(sft_log)
    assert report.step_unit == "step"
    assert report.series["loss"].steps == list(range(LOGGING_STEPS, MAX_STEPS + 1, LOGGING_STEPS))


def test_a_running_job_without_logging_steps_counts_log_lines(sft_log: list[str]) -> None:
    end = next(i for i, line in enumerate(sft_log) if "train_runtime" in line)
    report = metrics_from_log(sft_log[:end])
    assert report.step_unit == "log" and not report.final
    assert report.series["loss"].steps == list(range(1, MAX_STEPS // LOGGING_STEPS + 1))
    assert "log lines" in report.text


def test_feeding_in_pieces_equals_feeding_at_once(sft_log: list[str]) -> None:
    parser = LogParser(logging_steps=LOGGING_STEPS)
    for start in range(0, len(sft_log), 7):
        parser.feed(sft_log[start:start + 7])
    whole = metrics_from_log(sft_log, logging_steps=LOGGING_STEPS)
    assert parser.report().series == whole.series
    assert parser.progress == MAX_STEPS and parser.total_steps == MAX_STEPS
    assert parser.latest("loss") == (MAX_STEPS, whole.series["loss"].values[-1])


def test_older_float_lines_nan_and_tensor_values() -> None:
    lines = [
        "{'loss': 2.5, 'grad_norm': 1.25, 'learning_rate': 5e-05, 'epoch': 0.1}",
        "{'loss': nan, 'grad_norm': inf, 'learning_rate': 4e-05, 'epoch': 0.2}",
        "  3%|▎ | 3/100 [00:01<00:30, 3.1it/s]{'loss': tensor(1.5, device='cuda:0'), 'epoch': 0.3}",
    ]
    report = metrics_from_log(lines, logging_steps=5)
    assert report.series["loss"].steps == [5, 10, 15]
    assert report.series["loss"].values == [2.5, None, 1.5]
    assert report.series["grad_norm"].values == [1.25, None]
    assert report.has_nan and report.diverged
    assert report.summaries["loss"].first_non_finite_step == 10
    assert "NaN/inf in loss, grad_norm from step 10" in report.text
    # NaN never reaches JSON as a bare token a strict reader would reject.
    json.loads(report.model_dump_json(), parse_constant=lambda token: pytest.fail(f"bare {token} in JSON"))


def test_grpo_lines_give_reward_series_with_the_right_goal() -> None:
    lines = []
    for i in range(1, 10):
        lines.append(repr({"loss": "0.01", "grad_norm": "0.5", "learning_rate": "1e-06", "num_tokens": str(100 * i),
                           "completions/mean_length": "20", "rewards/accuracy_reward/mean": str(0.1 * i),
                           "rewards/accuracy_reward/std": "0.2", "reward": str(0.1 * i), "reward_std": "0.3",
                           "frac_reward_zero_std": "0", "kl": str(0.001 * i), "entropy": "1.2", "epoch": str(i / 9)}))
    report = metrics_from_log(lines, logging_steps=1)
    assert report.summaries["reward"].goal == "max" and report.summaries["reward"].trend == "increasing"
    assert report.summaries["rewards/accuracy_reward/mean"].goal == "max"
    assert report.summaries["reward_std"].goal is None and report.summaries["kl"].goal is None
    assert report.summaries["reward"].best == pytest.approx(0.9) and report.summaries["reward"].best_step == 9
    assert "reward 0.1 -> 0.9" in report.text


def test_eval_lines_are_placed_by_their_epoch() -> None:
    lines = [repr({"loss": str(3 - 0.1 * i), "epoch": str(i / 10)}) for i in range(1, 6)]
    lines.insert(3, repr({"eval_loss": "2.5", "eval_runtime": "1.0", "epoch": "0.25"}))
    report = metrics_from_log(lines, logging_steps=10)
    assert report.series["eval_loss"].steps == [25]
    assert report.series["eval_runtime"].steps == [25]


def test_what_is_not_a_log_dict() -> None:
    assert parse_log_dict("no braces here") is None
    assert parse_log_dict("{'a': 'text only'}") is None
    assert parse_log_dict('{"ok": true, "loss": 1.0}') is None  # JSON literals: not a Python dict, skipped
    assert parse_log_dict("{'loss': __import__('os').system('true')}") is None
    assert parse_log_dict("{'loss': '" + "1" * 30_000 + "'}") is None
    assert parse_log_dict("{'loss': '1.5', 'flag': True, 'name': 'x'}") == {"loss": 1.5}


def test_learning_rate_shapes() -> None:
    assert lr_schedule_shape([2e-5] * 5) == "constant"
    assert lr_schedule_shape([0, 1e-4, 2e-4, 1.5e-4, 1e-4, 0.5e-4, 0]) == "warmup then linear decay"
    cosine = [1e-3 * 0.5 * (1 + math.cos(math.pi * i / 20)) for i in range(21)]
    assert lr_schedule_shape(cosine) == "non-linear decay (e.g. cosine)"
    assert lr_schedule_shape([1e-5, 2e-5, 3e-5]) == "warmup"
    assert lr_schedule_shape([1e-5]) is None


# --- trackio's local store, written in trackio's own schemas ---


def _trackio_sqlite(path: Path, rows: list[tuple[str, str, int, dict]], *, legacy: bool = False) -> None:
    conn = sqlite3.connect(path)
    project_column = "project_name TEXT NOT NULL," if legacy else ""
    conn.execute(f"""CREATE TABLE metrics (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,
                     {project_column} run_name TEXT NOT NULL, step INTEGER NOT NULL, metrics TEXT NOT NULL)""")
    conn.execute("CREATE TABLE configs (id INTEGER PRIMARY KEY AUTOINCREMENT, run_name TEXT NOT NULL, "
                 "config TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE(run_name))")
    for timestamp, run, step, metrics in rows:
        if legacy:
            conn.execute("INSERT INTO metrics (timestamp, project_name, run_name, step, metrics) VALUES (?,?,?,?,?)",
                         (timestamp, "proj", run, step, json.dumps(metrics)))
        else:
            conn.execute("INSERT INTO metrics (timestamp, run_name, step, metrics) VALUES (?,?,?,?)",
                         (timestamp, run, step, json.dumps(metrics)))
    conn.commit()
    conn.close()


def _transformers_rows(run: str, day: int, losses: list[float | str]) -> list[tuple[str, str, int, dict]]:
    """What transformers' TrackioCallback logs: rewrite_logs names and train/global_step, one row per log call."""
    rows = []
    for i, loss in enumerate(losses):
        rows.append((f"2025-01-0{day}T00:00:{i:02d}", run, i, {
            "train/loss": loss, "train/learning_rate": 1e-4, "train/global_step": 10 * (i + 1), "train/epoch": i}))
    rows.append((f"2025-01-0{day}T00:01:00", run, len(losses),
                 {"eval/loss": 1.5, "train/global_step": 10 * len(losses)}))
    return rows


@pytest.mark.parametrize("legacy", [False, True])
def test_trackio_sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, legacy: bool) -> None:
    db = tmp_path / "myproject.db"
    _trackio_sqlite(db, _transformers_rows("old-run", 1, [9.0, 8.0]) +
                    _transformers_rows("new-run", 2, [3.0, 2.5, "NaN", 2.0]), legacy=legacy)
    before = db.read_bytes()
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path))

    report = read_trackio(project="my project!")  # trackio keeps only alphanumerics, '-' and '_' in file names
    assert report is not None and report.source == "trackio"
    assert report.series["loss"].steps == [10, 20, 30, 40]
    assert report.series["loss"].values == [3.0, 2.5, None, 2.0]
    assert report.series["eval_loss"].steps == [40]
    assert "global_step" not in report.series and "train/global_step" not in report.series
    assert report.has_nan and report.text.startswith("trackio run 'new-run'")

    older = read_trackio(project="myproject", run="old-run")
    assert older is not None and older.series["loss"].values == [9.0, 8.0]
    assert read_trackio(project="myproject", run="missing") is None
    assert read_trackio(project="other") is None
    assert db.read_bytes() == before


def test_trackio_default_directory_follows_hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKIO_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (tmp_path / "hf" / "trackio").mkdir(parents=True)
    _trackio_sqlite(tmp_path / "hf" / "trackio" / "huggingface.db", _transformers_rows("r", 1, [2.0, 1.0]))
    report = read_trackio()
    assert report is not None and report.series["loss"].values == [2.0, 1.0]


def test_trackio_parquet_store(tmp_path: Path) -> None:
    """Newer trackio keeps a project as a folder: runs.parquet and metrics/*.parquet parts, metrics as JSON."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    root = tmp_path / "proj.trackio"
    (root / "metrics").mkdir(parents=True)
    pq.write_table(pa.table({"run_id": ["a1"], "run_name": ["run-a"], "created_at": ["2025"], "storage_key": ["a1"]}),
                   root / "runs.parquet")
    rows = _transformers_rows("run-a", 3, [4.0, 3.0, 2.0])
    pq.write_table(pa.table({"run_id": ["a1"] * len(rows), "timestamp": [r[0] for r in rows],
                             "step": [r[2] for r in rows], "metrics": [json.dumps(r[3]) for r in rows],
                             "log_id": [str(i) for i in range(len(rows))]}), root / "metrics" / "1-x.parquet")
    report = read_trackio(project="proj", directory=tmp_path)
    assert report is not None
    assert report.series["loss"].steps == [10, 20, 30] and report.series["loss"].values == [4.0, 3.0, 2.0]


def test_importing_the_engine_modules_stays_light() -> None:
    code = ("import sys, trl_jobs_mcp.jobs.analysis.metrics, trl_jobs_mcp.jobs.analysis.plot, "
            "trl_jobs_mcp.jobs.analysis.diagnose; "
            "print(sorted(m for m in ('matplotlib', 'numpy', 'torch', 'pyarrow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
