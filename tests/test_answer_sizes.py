"""Issue 21, answers sized for a model: fetch_logs carries its lines once, wait_for_job sends at most one progress
notification every 10 s (sooner only when the stage changes), job_metrics' image is sized for a chat. Real child
processes on the local backend, the real MCP client in-process. bench/answers.py prints the same sizes."""

from __future__ import annotations

import base64
import json
import struct
import sys
from pathlib import Path

import pytest
from mcp_client import call, local_client, text_of

from trl_jobs_mcp.jobs.core.models import JobStage
from trl_jobs_mcp.tools.progress import ProgressPace

pytestmark = pytest.mark.anyio
PY = sys.executable
LONG = "x" * 120


async def test_fetch_logs_carries_each_line_once(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        _, job = await call(client, "run_job", command=[PY, "-c", f"for i in range(37): print(i, '{LONG}')"])
        await call(client, "wait_for_job", job_id=job["job_id"], timeout=60)
        result = await client.call_tool("fetch_logs", {"job_id": job["job_id"], "since": 0})
    text, out = text_of(result), result.structured_content or {}
    assert out["line_count"] == 37 and "lines" not in out and out["finished"]
    assert all(text.split("\n").count(f"{i} {LONG}") == 1 for i in range(37))
    assert len(json.dumps(out)) < 300 and len(text) < 37 * (len(LONG) + 4) + 400


def test_progress_is_paced_to_one_every_ten_seconds_unless_the_stage_changes() -> None:
    pace = ProgressPace()
    sent = [t for t in range(70) if pace.due(JobStage.RUNNING, now=float(t))]
    assert sent == [0, 10, 20, 30, 40, 50, 60]  # one a second before: 70 for a 70 s run
    assert pace.due(JobStage.COMPLETED, now=61.0) and not pace.due(JobStage.COMPLETED, now=62.0)


async def test_wait_for_job_does_not_notify_every_poll(state_dir: Path) -> None:
    notes: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message or "")

    script = "import time\nfor i in range(12):\n    print('step', i, flush=True)\n    time.sleep(0.5)\n"
    async with local_client(state_dir) as client:
        _, job = await call(client, "run_job", command=[PY, "-c", script])
        result = await client.call_tool("wait_for_job", {"job_id": job["job_id"], "timeout": 60},
                                        progress_callback=on_progress)
    assert (result.structured_content or {})["stage"] == "COMPLETED"
    # A 6 s run polled every second: the first poll, then only stage changes (RUNNING, COMPLETED).
    assert 1 <= len(notes) <= 3, notes


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


async def test_job_metrics_image_is_sized_for_a_chat(state_dir: Path) -> None:
    # 300 logged points of loss, learning rate and grad norm, as TRL prints them: noisy curves compress worst.
    script = ("import math, random\nrandom.seed(1)\nfor i in range(300):\n"
              "    print({'loss': 3 * math.exp(-i / 80) + random.random(), 'grad_norm': random.random() * 4,"
              " 'learning_rate': 2e-5 * (1 - i / 300), 'epoch': i / 300})\n")
    async with local_client(state_dir) as client:
        _, job = await call(client, "run_job", command=[PY, "-c", script])
        await call(client, "wait_for_job", job_id=job["job_id"], timeout=60)
        result = await client.call_tool("job_metrics", {"job_id": job["job_id"]})
    [image] = [block for block in result.content if block.type == "image"]
    png = base64.b64decode(image.data)
    width, height = png_size(png)
    assert len(png) < 60_000 and width >= 400 and height >= 300, (len(png), width, height)
