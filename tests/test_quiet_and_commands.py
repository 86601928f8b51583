"""Issue 21: a quiet job's inspect_job says it is quiet and idle (from the supervisor's samples) before any idle
guard acts, and a command job gets command hints, never "pass --logging_steps" or "until the loss flattens"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp_client import call, local_client

from trl_jobs_mcp.jobs.analysis.metrics.quiet import quiet_for, quiet_note
from trl_jobs_mcp.jobs.analysis.metrics.system import SystemMetrics, SystemSample
from trl_jobs_mcp.tools import inspect_job

PY = sys.executable


def samples(*rows: tuple[float, float, int]) -> SystemMetrics:
    return SystemMetrics(source="supervisor", samples=[SystemSample(t=t, cpu_pct=cpu, log_bytes=log)
                                                       for t, cpu, log in rows])


def test_quiet_and_idle_is_read_from_the_samples() -> None:
    # Busy and printing for a minute, then four minutes of nothing at 0.1% CPU (the issue's `sleep 900`).
    busy = [(float(t), 90.0, 100 * t) for t in range(0, 60, 2)]
    idle = [(float(t), 0.1, 5800) for t in range(60, 300, 2)]
    found = quiet_for(samples(*busy, *idle))
    assert found is not None and found[0] == pytest.approx(238.0) and found[1] == pytest.approx(0.1)
    assert "Quiet and idle for 4 min" in (quiet_note(samples(*busy, *idle)) or "")
    # Silent but working (a long training step), or printing while idle, or quiet for under a minute: nothing said.
    assert quiet_for(samples(*[(float(t), 95.0, 10) for t in range(0, 300, 2)])) is None
    assert quiet_for(samples(*[(float(t), 0.1, t) for t in range(0, 300, 2)])) is None
    assert quiet_for(samples(*[(float(t), 0.1, 10) for t in range(0, 40, 2)])) is None
    # A supervisor that did not record the log's size says nothing either.
    assert quiet_for(SystemMetrics(source="supervisor", samples=[SystemSample(t=t, cpu_pct=0.0)
                                                                 for t in (0.0, 100.0, 200.0)])) is None


def test_inspect_job_puts_the_quiet_note_first() -> None:
    from datetime import UTC, datetime

    from trl_jobs_mcp.jobs.core.models import JobInfo, JobStage

    job = JobInfo(id="3f2a", backend="local", stage=JobStage.RUNNING, started_at=datetime.now(UTC))
    text = inspect_job.render(inspect_job.Output(job=job, finished=False, runtime_seconds=300,
                                                 quiet="Quiet and idle for 4 min: ..."))
    assert text.splitlines()[1].startswith("Quiet and idle for 4 min")


@pytest.mark.anyio
async def test_the_supervisor_records_the_logs_size_with_each_sample(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        _, job = await call(client, "run_job", command=[PY, "-c", "import time\nprint('hi', flush=True)\n"
                                                                  "time.sleep(5)"])
        await call(client, "wait_for_job", job_id=job["job_id"], timeout=60)
        from trl_jobs_mcp.jobs.backends.local import LocalBackend

        metrics = await LocalBackend(home=state_dir).system_metrics(job["job_id"])
    assert metrics.samples and all(s.log_bytes is not None for s in metrics.samples)
    assert metrics.samples[-1].log_bytes >= len("hi\n")


@pytest.mark.anyio
async def test_a_command_job_gets_command_hints(state_dir: Path) -> None:
    script = "for i in range(5): print({'score': i / 5})"
    async with local_client(state_dir) as client:
        _, job = await call(client, "run_job", command=[PY, "-c", script])
        await call(client, "wait_for_job", job_id=job["job_id"], timeout=60)
        quiet_job = (await call(client, "run_job", command=[PY, "-c", "print('no metrics here')"]))[1]
        await call(client, "wait_for_job", job_id=quiet_job["job_id"], timeout=60)
        text, _ = await call(client, "job_metrics", job_id=job["job_id"], plot=False)
        empty, _ = await call(client, "job_metrics", job_id=quiet_job["job_id"], plot=False)
    for answer in (text, empty):
        assert "--logging_steps" not in answer and "loss flattens" not in answer and "loss_plateau" not in answer
    assert "1 log line(s) read" in empty


def gpu_samples(count: int, every: float, util: float) -> SystemMetrics:
    from trl_jobs_mcp.jobs.analysis.metrics.system import GpuSample

    return SystemMetrics(source="hub stream", samples=[
        SystemSample(t=i * every, cpu_pct=50.0, gpus=[GpuSample(gpu="0", util_pct=util, memory_gb=20.0)])
        for i in range(count)])


def test_no_gpu_verdict_before_a_minimum_window_and_only_offered_flavors_suggested() -> None:
    from trl_jobs_mcp.jobs.analysis.metrics.system import summarize_system

    short = summarize_system(gpu_samples(5, 1.0, 8.0))  # Hugging Face's 5 s of stream
    assert not short.low_gpu_use and "Too short a window" in short.text and "mostly waits" not in short.text
    long = summarize_system(gpu_samples(16, 3.0, 8.0))
    assert long.low_gpu_use and "mostly waits" in long.text and "cheaper flavor" not in long.text
    offered = summarize_system(gpu_samples(16, 3.0, 8.0), cheaper="a10g-large")
    assert "a10g-large, a cheaper flavor" in offered.text


@pytest.mark.anyio
async def test_the_reward_function_contract_is_a_resource_that_reward_funcs_points_to(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        described = tools["launch_training"].input_schema["properties"]["reward_funcs"]["description"]
        assert "trl://reward-functions" in described
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "trl://reward-functions" in listed
        text = (await client.read_resource("trl://reward-functions")).contents[0].text
    assert 'completion[0]["content"]' in text and "**kwargs" in text and "list[float | None]" in text
