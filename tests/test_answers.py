"""Answers an assistant can report from without another call (issue 11): where the model is, what it cost, logs
once and without noise, progress from the newest lines, the next call named, and a sentence for what runs now."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp_client import call, hf_client, local_client, text_of

from trl_jobs_mcp.jobs.analysis.cost import billed_minutes, cost_so_far
from trl_jobs_mcp.jobs.analysis.logtidy import tidy_lines
from trl_jobs_mcp.jobs.core.models import JobInfo, JobStage
from trl_jobs_mcp.jobs.recipes.readback import model_location, trainer_of
from trl_jobs_mcp.tools import inspect_job

PY = sys.executable
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _job(stage: JobStage, **fields: object) -> JobInfo:
    base: dict[str, object] = {"id": "j1", "backend": "x", "stage": stage, "flavor": "a100-large",
                               "labels": {"trainer": "sft"}, "started_at": T0}
    base.update(fields)
    return JobInfo(**base)  # type: ignore[arg-type]


# --- cost: billed minutes x price, keyed on BackendTraits.billed ---


def test_cost_is_started_minutes_times_the_price() -> None:
    done = _job(JobStage.COMPLETED, finished_at=T0 + timedelta(seconds=61))
    assert billed_minutes(done) == 2
    cost = cost_so_far(done, billed=True)
    assert cost is not None and cost.usd == pytest.approx(2.5 * 2 / 60, abs=1e-4) and cost.final
    running = _job(JobStage.RUNNING)
    now = cost_so_far(running, billed=True, now=T0 + timedelta(minutes=30))
    assert now is not None and now.billed_minutes == 30 and now.usd == 1.25 and not now.final
    assert cost_so_far(done, billed=False) is None  # a free backend states no cost
    assert cost_so_far(_job(JobStage.SCHEDULING, started_at=None), billed=True).usd == 0  # type: ignore[union-attr]


# --- where the model is ---


def test_the_model_is_where_the_job_saved_it_and_nowhere_else(tmp_path: Path) -> None:
    out = tmp_path / "output"
    local = {"output_dir": str(out), "command": [PY, "-P", "-m", "trl_jobs_mcp.jobs.recipes.entry", "sft"]}
    assert trainer_of(_job(JobStage.RUNNING, labels={}, **local)) == "sft"
    errored = model_location(_job(JobStage.ERROR, **local), keeps_files=True)
    assert errored is not None and not errored.saved and errored.output_dir is None
    assert "before saving a model" in errored.text
    out.mkdir()
    (out / "config.json").write_text("{}")
    done = model_location(_job(JobStage.COMPLETED, **local), keeps_files=True)
    assert done is not None and done.saved and done.output_dir == str(out) and str(out) in done.text
    # On a backend that does not keep files, only the push counts.
    hub = ["uv", "run", "https://raw.githubusercontent.com/huggingface/trl/v1.16.0/trl/scripts/sft.py",
           "--push_to_hub=true", "--hub_model_id=me/tiny-sft", "--output_dir=tiny-SFT"]
    pushed = model_location(_job(JobStage.COMPLETED, labels={}, command=hub), keeps_files=False)
    assert pushed is not None and pushed.hub_repo == "me/tiny-sft" and pushed.output_dir is None
    assert "https://huggingface.co/me/tiny-sft" in pushed.text
    lost = model_location(_job(JobStage.COMPLETED, labels={}, command=hub[:3]), keeps_files=False)
    assert lost is not None and not lost.saved and "push_to_hub" in lost.text
    assert model_location(_job(JobStage.COMPLETED, labels={}, command=["echo", "hi"]), keeps_files=True) is None


def test_a_canceled_job_reads_as_whole_sentences() -> None:
    """Bug: "canceled by request It ran 15s." lacked a full stop."""
    job = _job(JobStage.CANCELED, message="canceled by request", finished_at=T0 + timedelta(seconds=15))
    text = inspect_job.render(inspect_job.Output(job=job, finished=True, runtime_seconds=15))
    assert "CANCELED on a100-large: canceled by request. It ran 15s." in text


# --- logs without noise ---


def test_tidy_collapses_bars_and_counts_repeated_warnings() -> None:
    bar = "\r".join(f" {p}%|{'#' * (p // 10)}| {p // 10}/10 [00:0{p // 10}<00:10, 1.0it/s]" for p in (0, 50, 100))
    lines = ["/x/training_args.py:1541: FutureWarning: `gradient_checkpointing` is deprecated",
             "  warnings.warn(f\"...\", FutureWarning)",
             "Map:   0%|          | 0/64 [00:00<?, ? examples/s]",
             "Map: 100%|##########| 64/64 [00:00<00:00, 8484.05 examples/s]",
             bar,
             "{'loss': '5.9', 'epoch': '0.5'}",
             "/x/training_args.py:1541: FutureWarning: `gradient_checkpointing` is deprecated",
             "  warnings.warn(f\"...\", FutureWarning)",
             "{'loss': '5.8', 'epoch': '1'}"]
    assert tidy_lines(lines) == [
        "/x/training_args.py:1541: FutureWarning: `gradient_checkpointing` is deprecated [repeated 2 times]",
        "Map: 100%|##########| 64/64 [00:00<00:00, 8484.05 examples/s]",
        " 100%|##########| 10/10 [00:010<00:10, 1.0it/s]",
        "{'loss': '5.9', 'epoch': '0.5'}",
        "{'loss': '5.8', 'epoch': '1'}"]


FAKE_TRAINER = textwrap.dedent("""
    import os, sys, time
    out = sys.stdout
    total = 24
    out.write("\\r  0%|          | 0/24 [00:00<?, ?it/s]"); out.flush()
    for step in range(1, total + 1):
        # A library that warns at every step (Python's own warnings module would print it once).
        sys.stderr.write("dataloader.py:759: UserWarning: pin_memory is set but no accelerator is found\\n")
        sys.stderr.flush()
        out.write(f"\\r {100 * step // total}%|#  | {step}/{total} [00:0{step % 10}<00:10, 1.20s/it]"); out.flush()
        if step % 4 == 0:  # as transformers' ProgressCallback writes through tqdm: the bar, then the dict
            out.write("\\r{'loss': '%.3f', 'learning_rate': '1e-05', 'epoch': '%.2f'}\\n" % (6 - step / 10, step / 8))
            out.write(f"\\r {100 * step // total}%|#  | {step}/{total} [00:0{step % 10}<00:10, 1.20s/it]")
            out.flush()
        if step == 10:
            while not os.path.exists(sys.argv[1]):  # the test looks now, between two logged steps
                time.sleep(0.05)
    out.write("\\n{'train_runtime': '1.0', 'train_loss': '5.0', 'epoch': '3'}\\n")
""")


@pytest.mark.anyio
async def test_progress_comes_from_the_newest_lines_and_the_log_comes_once(state_dir: Path, tmp_path: Path) -> None:
    """Bug: wait_for_job said "step 0/24" while the log already showed losses: a finished line keeps only its last
    state, so the bar drawn before a log dict was lost, and the live bar (no newline yet) was never read. And each
    log line came back twice, in the text and in the structured content."""
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    go = tmp_path / "go"
    notes: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message or "")

    async with local_client(state_dir) as client:
        _, launched = await call(client, "run_job", command=[PY, "-u", str(script), str(go)])
        job_id = launched["job_id"]
        result = await client.call_tool("wait_for_job", {"job_id": job_id, "timeout": 4},
                                        progress_callback=on_progress)
        text, out = text_of(result), result.structured_content or {}
        assert out["reason"] == "timeout" and out["step"] == 10 and out["total_steps"] == 24
        assert out["loss"] == pytest.approx(5.2)
        assert "step 10/24, loss 5.2" in text and any("step 10/24, loss 5.2" in n for n in notes)
        assert "lines" not in out and out["line_count"] >= 1
        assert text.count("pin_memory is set") == 1 and "[repeated" in text
        assert "job_metrics" not in text  # not a training job: no curves to offer
        go.write_text("")
        _, done = await call(client, "wait_for_job", job_id=job_id, timeout=60)
        assert done["stage"] == "COMPLETED" and done["step"] == 24 and done["model"] is None
        raw_text, raw = await call(client, "fetch_logs", job_id=job_id, since=0)
        _, tidy = await call(client, "fetch_logs", job_id=job_id, since=0, tidy=True)
    assert sum("pin_memory is set" in line for line in raw["lines"]) == 24
    assert sum("pin_memory is set" in line for line in tidy["lines"]) == 1


# --- the hf backend: cost so far in inspect_job, wait_for_job and cancel_job ---


@pytest.mark.anyio
async def test_cost_so_far_on_a_billed_backend(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        _, launched = await call(client, "run_job", command=["python", "-c", "print(1)"], flavor="a10g-large")
        job_id = launched["job_id"]
        fake_hf.set_stage(job_id, "RUNNING")
        text, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["cost"]["price_per_hour"] == 1.5 and "Cost so far: $" in text
        text, waited = await call(client, "wait_for_job", job_id=job_id, timeout=2)
        assert waited["cost"] is not None and "billed minute(s) at $1.50/h" in text
        text, canceled = await call(client, "cancel_job", job_id=job_id)
        assert canceled["cost"] is not None and "Cost" in text and text.endswith(").")
