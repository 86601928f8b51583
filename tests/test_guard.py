"""The idle guard, for real: a job that prints once and then sleeps is stopped with no server running (the local
supervisor), and the Hugging Face wrapper, run here as the job's container would run it, stops the same command.
System samples of a running job land in its folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hf_fixtures import make_hf_backend
from polling import eventually

from trl_jobs_mcp.jobs.backends.local import JobPaths
from trl_jobs_mcp.jobs.core.guard import parse_idle_timeout
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec, JobStage

pytestmark = pytest.mark.anyio

PY = sys.executable
SILENT = [PY, "-c", "import time; print('loaded', flush=True); time.sleep(600)"]
WAIT = 30.0


async def test_a_silent_job_is_stopped_by_its_supervisor_with_no_server_running(make_backend, state_dir: Path) -> None:
    first = await make_backend(sample_every=0.2)
    job = await first.submit(JobSpec(command=SILENT, idle_timeout=1.5, timeout="5m"))
    await eventually(lambda: JobPaths(state_dir, job.id).proc.exists(), timeout=WAIT, what="the job to start")
    await first.aclose()  # no server from here on: only the supervisor watches the job

    paths = JobPaths(state_dir, job.id)
    await eventually(lambda: paths.exit.exists(), timeout=WAIT, what="the supervisor to stop the idle job")
    assert json.loads(paths.exit.read_text())["reason"] == "idle"

    second = await make_backend()
    info = await eventually(lambda: _ended(second, job.id), timeout=WAIT, what="the new backend to see the end")
    assert info.stage == JobStage.ERROR
    assert info.message.startswith("idle for 1 minute (no log output, CPU use near zero), stopped by the idle guard")
    assert "cost so far $0.00 on this machine" in info.message
    from trl_jobs_mcp.jobs.analysis.diagnose import diagnose

    # Its message names its idle_timeout, which must not read as the job's timeout.
    assert diagnose(lines=[], message=info.message).cause == "idle"
    lines = (await second.logs(job.id)).lines
    assert lines[0] == "loaded" and lines[-1].startswith("[trl-jobs] idle for 1 minute (")
    # Its samples: CPU near zero, the memory of a Python process.
    samples = [json.loads(line) for line in paths.system.read_text().splitlines()]
    assert len(samples) >= 2 and all(s["cpu"] < 50 for s in samples[1:])
    assert all(1e6 < s["rss"] < 1e9 for s in samples)


async def _ended(backend, job_id):
    info = await backend.inspect(job_id)
    return info if info.finished else None


async def test_a_busy_job_is_not_idle(make_backend) -> None:
    backend = await make_backend(sample_every=0.2)
    # Silent, but busy on the CPU for longer than the idle timeout: it runs to its end.
    busy = [PY, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass\nprint('done')"]
    job = await backend.submit(JobSpec(command=busy, idle_timeout=1.0))
    info = await eventually(lambda: _ended(backend, job.id), timeout=WAIT, what="the busy job to end")
    assert info.stage == JobStage.COMPLETED, info.message


def test_idle_timeout_is_read_like_a_timeout_and_can_be_off() -> None:
    assert parse_idle_timeout("20m") == 1200
    assert parse_idle_timeout("off") is None and parse_idle_timeout(0) is None and parse_idle_timeout(None) is None
    with pytest.raises(InvalidJobSpec, match="idle_timeout: '10s' is shorter than 1m"):
        parse_idle_timeout("10s")
    with pytest.raises(InvalidJobSpec, match="idle_timeout: cannot read 'soon'"):
        parse_idle_timeout("soon")


def test_the_hf_guard_stops_a_silent_command_where_the_job_runs(tmp_path: Path) -> None:
    """The wrapper a Hugging Face job runs, run here for real, as the container would run it (sh, python3)."""
    from trl_jobs_mcp.jobs.backends.hf.guard import guarded, unguarded

    argv = guarded(SILENT, idle_timeout=1.0, flavor="a100-large", price_per_hour=2.5, sample_every=0.2)
    assert unguarded(argv) == SILENT
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 124, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "loaded"
    assert lines[-1].startswith("[trl-jobs] idle for 1 minute (no log output and CPU use under 5%)")
    assert "cost so far about $0.04 (a100-large at $2.50/h)" in lines[-1]
    from trl_jobs_mcp.jobs.analysis.diagnose import diagnose

    found = diagnose(lines=lines, message="Job failed with exit code: 124", exit_code=124)
    assert found is not None and found.cause == "idle" and "idle_timeout" in found.fix


def test_the_hf_guard_passes_a_command_through(tmp_path: Path) -> None:
    from trl_jobs_mcp.jobs.backends.hf.guard import guarded

    argv = guarded([PY, "-c", "import sys; print('hi'); sys.exit(3)"], idle_timeout=60, flavor="t4-small",
                   price_per_hour=0.4)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "hi\n")


async def test_an_hf_job_launches_under_the_guard_and_its_stop_is_diagnosed(fake_hf) -> None:
    """Against the fake Jobs API: the job's command carries the guard, the job's details show the command alone,
    and once the guard has stopped it (its last line in the log, exit 124) inspect_job's diagnosis says idle."""
    from trl_jobs_mcp.jobs.backends.hf.guard import MARK
    from trl_jobs_mcp.tools.inspect_job import diagnose_job

    backend = make_hf_backend(fake_hf)
    url = "https://raw.githubusercontent.com/huggingface/trl/v1.16.0/trl/scripts/sft.py"
    info = await backend.submit(JobSpec(script=url, script_args=["--max_steps=5"], dependencies=["trl==1.16.0"],
                                        flavor="a10g-large", idle_timeout="20m"))
    sent = fake_hf.posted_specs[-1]
    assert sent["dockerImage"] == "ghcr.io/astral-sh/uv:python3.12-bookworm"
    assert sent["command"][:2] == ["sh", "-c"] and sent["command"][3].startswith(MARK)
    assert json.loads(sent["command"][4]) == {"idle": 1200.0, "flavor": "a10g-large", "price": 1.5, "sample": 10.0}
    assert sent["command"][6:] == ["uv", "run", "--with", "trl==1.16.0", url, "--max_steps=5"]
    assert info.command == ["uv", "run", "--with", "trl==1.16.0", url, "--max_steps=5"]

    line = ("[trl-jobs] idle for 20 minutes (no log output and GPU use under 5%), so the idle guard (idle_timeout "
            "1200s) stopped it after running 1500s; cost so far about $0.62 (a10g-large at $1.50/h).")
    fake_hf.append_log(info.id, "loading", line)
    fake_hf.finish(info.id, "ERROR", "Job failed with exit code: 124")
    job = await backend.inspect(info.id)
    diagnosis = await diagnose_job(backend, job)
    assert diagnosis is not None and diagnosis.cause == "idle" and "cost so far about $0.62" in diagnosis.evidence


def test_the_server_default_comes_from_trl_jobs_idle_timeout() -> None:
    from trl_jobs_mcp.server.settings import Settings, SettingsError

    assert Settings.from_env({}).idle_timeout == 1800
    assert Settings.from_env({"TRL_JOBS_IDLE_TIMEOUT": "20m"}).idle_timeout == 1200
    assert Settings.from_env({"TRL_JOBS_IDLE_TIMEOUT": "off"}).idle_timeout is None
    with pytest.raises(SettingsError, match="TRL_JOBS_IDLE_TIMEOUT: '5s' is shorter than 1m"):
        Settings.from_env({"TRL_JOBS_IDLE_TIMEOUT": "5s"})


async def test_run_job_takes_idle_timeout_or_the_server_default(tmp_path: Path) -> None:
    from mcp_client import call, call_error, local_client

    async with local_client(tmp_path / "home", idle_timeout=600.0) as client:
        text, out = await call(client, "run_job", command=[PY, "-c", "pass"], dry_run=True)
        assert out["idle_timeout"] == "10m" and "Idle guard: stopped (ERROR)" in text
        _, out = await call(client, "run_job", command=[PY, "-c", "pass"], idle_timeout="off", dry_run=True)
        assert out["idle_timeout"] is None
        message = await call_error(client, "run_job", command=[PY, "-c", "pass"], idle_timeout="20 minutes")
        assert "idle_timeout: cannot read '20 minutes'" in message


# --- system metrics ---


def _hub_sample(util: float, memory_gb: float) -> dict:
    """A metric event as Hugging Face sends it (huggingface_hub's fetch_job_metrics docstring), two GPUs."""
    gpu = {"utilization": util, "memory_used_bytes": int(memory_gb * 1e9), "memory_total_bytes": 80_000_000_000}
    return {"cpu_usage_pct": 97, "cpu_millicores": 12000, "memory_used_bytes": 30_000_000_000,
            "memory_total_bytes": 142_000_000_000, "rx_bps": 0, "tx_bps": 0,
            "gpus": {"882fa930": gpu, "d901cd7f": {**gpu, "utilization": util / 2}}, "replica": "57vr7"}


async def test_hf_system_metrics_come_from_the_jobs_metrics_stream(fake_hf) -> None:
    from trl_jobs_mcp.jobs.analysis.metrics.system import summarize_system, system_series

    backend = make_hf_backend(fake_hf)
    job_id = fake_hf.add_job(stage="RUNNING")
    fake_hf.set_metrics(job_id, _hub_sample(12, 40), _hub_sample(20, 41), _hub_sample(16, 42))
    metrics = await backend.system_metrics(job_id)
    assert metrics.source == "hub stream" and len(metrics.samples) == 5  # metrics_samples: 5 by default
    first = metrics.samples[0]
    assert first.cpu_pct == 97 and first.memory_gb == 30 and [g.gpu for g in first.gpus] == ["882fa930", "d901cd7f"]
    assert first.gpus[0].util_pct == 12 and first.gpus[1].memory_total_gb == 80
    assert [s.t for s in metrics.samples] == sorted(s.t for s in metrics.samples)
    series = system_series(metrics)
    assert series["system/gpu882fa930_util_pct"].values == [12, 20, 16, 12, 20]
    summary = summarize_system(metrics)
    # (12+20+16+12+20)/5 = 16 on one GPU, 8 on the other: 12% on average, under 20%: called out with its causes.
    assert summary.gpus == 2 and summary.mean_gpu_util_pct == 12 and summary.peak_gpu_memory_gb == 42
    assert summary.low_gpu_use and "per_device_train_batch_size" in summary.text and "data loading" in summary.text
    assert "keeps no history" in summary.text

    fake_hf.finish(job_id)
    ended = await backend.system_metrics(job_id)
    assert ended.samples == [] and "only while a job runs" in (ended.note or "")


async def test_job_metrics_plots_a_local_jobs_system_samples(tmp_path: Path) -> None:
    """Through the tool: a job that logs TRL-style lines while it works gets its curves and its system samples."""
    import base64

    from mcp_client import call, local_client, text_of

    script = ("import time\nfor i in range(3):\n    end = time.time() + 0.7\n    while time.time() < end: pass\n"
              "    print({'loss': str(3.0 - i), 'learning_rate': '1e-3', 'epoch': str(i)}, flush=True)\n")
    async with local_client(tmp_path / "home") as client:
        _, out = await call(client, "run_job", command=[PY, "-c", script])
        await eventually(lambda: _stage_done(client, out["job_id"]), timeout=WAIT, what="the job to end")
        result = await client.call_tool("job_metrics", {"job_id": out["job_id"]})
    assert not result.is_error, text_of(result)
    metrics = result.structured_content or {}
    assert metrics["series"]["loss"]["values"] == [3.0, 2.0, 1.0]
    system = metrics["system"]
    assert system["samples"] >= 1 and system["peak_memory_gb"] > 0.001 and system["gpus"] == 0
    assert {"loss", "system/cpu_pct", "system/memory_gb"} <= set(metrics["plotted"])
    png = base64.b64decode(next(b for b in result.content if b.type == "image").data)
    assert png[:4] == b"\x89PNG"
    assert "System: " in text_of(result)


async def _stage_done(client, job_id):
    from mcp_client import call

    _, info = await call(client, "inspect_job", job_id=job_id)
    return info["finished"]


async def test_a_backend_that_does_not_sample_answers_no_system_metrics_with_a_note(state_dir: Path) -> None:
    """NoSystemMetrics, the default a new backend (Ray) can take before it samples: an empty answer with a note
    for a known job, and an unknown id still refused."""
    from trl_jobs_mcp.jobs.backends.base import NoSystemMetrics
    from trl_jobs_mcp.jobs.backends.local import LocalBackend
    from trl_jobs_mcp.jobs.core.models import JobNotFoundError

    class Unsampled(NoSystemMetrics, LocalBackend):
        pass

    backend = Unsampled(home=state_dir, grace=2.0)
    await backend.start()
    try:
        job = await backend.submit(JobSpec(command=[PY, "-c", "print('done')"], timeout="1m"))
        metrics = await backend.system_metrics(job.id)
        assert metrics.source == "none" and not metrics.samples
        assert metrics.note == ("No system metrics (CPU, memory, GPU) from this machine: this backend does not "
                                "sample its jobs.")
        with pytest.raises(JobNotFoundError):
            await backend.system_metrics("0" * 12)
        await eventually(lambda: _ended(backend, job.id), timeout=WAIT, what="the job to end")
    finally:
        await backend.aclose()
