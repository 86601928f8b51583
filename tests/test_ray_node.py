"""What runs beside a Ray job on its node, against the session's real head (tests/ray_head.py): the Python the
wrapper finds there, the idle guard, and the system samples job_metrics reads."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp_client import call, connect
from polling import eventually
from ray_head import RayHead, job_processes, ray_settings

from trl_jobs_mcp.jobs.backends.ray import RayBackend
from trl_jobs_mcp.jobs.core.models import JobSpec, JobStage

pytestmark = pytest.mark.anyio

JOB_S = 120  # a job's start on a loaded two-core machine takes seconds: generous, never a timed assert


@pytest.fixture
def backend(ray_backend: RayBackend) -> RayBackend:
    return ray_backend


settings = ray_settings


async def _ray_terminal(head: RayHead, job_id: str) -> bool:
    async with httpx2.AsyncClient() as http:
        status = (await http.get(f"{head.address}/api/jobs/{job_id}")).json()["status"]
    return status in ("STOPPED", "FAILED", "SUCCEEDED")


async def finished(backend: RayBackend, job_id: str) -> Any:
    async def check() -> Any:
        info = await backend.inspect(job_id)
        return info if info.finished else None

    return await eventually(check, timeout=JOB_S, interval=0.3, what=f"job {job_id} to finish")


async def test_a_head_started_from_a_venv_not_on_path_runs_jobs_with_its_python(ray_head: RayHead,
                                                                             backend: RayBackend) -> None:
    """The session's head runs from an unactivated venv with no Python with ray on PATH (ray_head.py): the wrapper
    runs with the head's Python, and a command's `python` is that one too."""
    assert ray_head.path is not None and os.path.dirname(ray_head.python) not in ray_head.path.split(":")
    check = "import ray, sys; print('python', sys.executable)"
    info = await backend.submit(JobSpec(command=["sh", "-c", f'echo "PATH=$PATH"; python -c "{check}"']))
    done = await finished(backend, info.id)
    lines = (await backend.logs(info.id, tail=5)).lines
    assert done.stage is JobStage.COMPLETED, (done.message, lines)
    assert f"python {ray_head.python}" in lines


# --- the idle guard and system metrics ---


async def test_idle_guard_stops_a_silent_job_with_no_server_running(ray_head: RayHead, tmp_path: Path) -> None:
    backend = RayBackend(address=ray_head.address, home=tmp_path / "state", cluster_env=True)
    await backend.start()
    info = await backend.submit(JobSpec(command=[sys.executable, "-c", "print('loaded', flush=True); "
                                                 "import time; time.sleep(600)"], idle_timeout=4))
    await backend.aclose()  # no server from here on: the guard lives beside the job on its node
    await eventually(lambda: _ray_terminal(ray_head, info.id), timeout=JOB_S, interval=0.3,
                     what="the idle guard to stop the silent job")
    assert not job_processes(info.id)
    again = RayBackend(address=ray_head.address, home=tmp_path / "state", cluster_env=True)
    await again.start()
    try:
        done = await again.inspect(info.id)
        lines = (await again.logs(info.id, tail=3)).lines
    finally:
        await again.aclose()
    assert done.stage is JobStage.ERROR and "stopped by the idle guard" in (done.message or ""), done.message
    assert any("[trl-jobs] idle for" in line for line in lines), lines


async def test_job_metrics_shows_the_jobs_cpu_and_memory_from_its_node(ray_head: RayHead, tmp_path: Path) -> None:
    script = ("import time\nkeep = bytearray(200 * 2**20)\nfor i in range(4):\n    end = time.time() + 1.0\n"
              "    while time.time() < end: pass\n"
              "    print({'loss': str(3.0 - i), 'learning_rate': '1e-3', 'epoch': str(i)}, flush=True)\n")
    async with connect(settings(ray_head, tmp_path)) as client:
        _, out = await call(client, "run_job", command=[sys.executable, "-c", script])
        _, done = await call(client, "wait_for_job", job_id=out["job_id"], timeout=JOB_S)
        assert done["stage"] == "COMPLETED", done
        _, metrics = await call(client, "job_metrics", job_id=out["job_id"], plot=False)
    system = metrics["system"]
    assert system["samples"] >= 1 and system["peak_memory_gb"] > 0.2 and system["gpus"] == 0, system
    assert {"system/cpu_pct", "system/memory_gb"} <= set(metrics["series"])
    assert metrics["series"]["loss"]["values"] == [3.0, 2.0, 1.0, 0.0]
