"""The idle guard, for real: a job that prints once and then sleeps is stopped with no server running (the local
supervisor), and the Hugging Face wrapper, run here as the job's container would run it, stops the same command.
System samples of a running job land in its folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from polling import eventually

from trl_jobs_mcp.jobs.backends.local import JobPaths
from trl_jobs_mcp.jobs.guard import parse_idle_timeout
from trl_jobs_mcp.jobs.models import InvalidJobSpec, JobSpec, JobStage

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
