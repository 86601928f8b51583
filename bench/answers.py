"""What answers weigh, as a model receives them (issue 21). Not a test: it prints sizes and ratios of one run.

    python bench/answers.py

1. fetch_logs of 37 log lines of 150 characters: text bytes, structured bytes, and the whole answer over the
   lines themselves (goal: near 1, the content carried once).
2. wait_for_job on a 25 s run polled every second: progress notifications sent (goal: one per 10 s, plus stage
   changes).
3. job_metrics' image for 300 noisy points of three series (and the machine's samples): bytes as sent, and the
   same figure at full colour and 800 px, as it was sent before (goal: tens of KB).
4. On Hugging Face (the tests' fake Hub): the dry-run answer of a rerun as it was over a launch's (goal: near 1;
   it was 15 KB, the idle guard's source shown as the command).
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_hf_jobs import FakeHFJobs  # noqa: E402
from mcp_client import hf_client, local_client, text_of  # noqa: E402

from trl_jobs_mcp.jobs.analysis.metrics import Series  # noqa: E402
from trl_jobs_mcp.jobs.analysis.plot import render_png  # noqa: E402

PY = sys.executable


def weigh(result) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(text bytes, structured bytes, image bytes) of a CallToolResult."""
    text = len(text_of(result).encode())
    structured = len(json.dumps(result.structured_content or {}, separators=(",", ":")).encode())
    images = sum(len(base64.b64decode(b.data)) for b in result.content if b.type == "image")
    return text, structured, images


async def local_answers(home: Path) -> None:
    line = "x" * 145
    async with local_client(home) as client:
        job = (await client.call_tool("run_job", {"command": [PY, "-c", f"for i in range(37): print(f'{{i:4}}', '{line}')"]})).structured_content
        await client.call_tool("wait_for_job", {"job_id": job["job_id"], "timeout": 60})
        text, structured, _ = weigh(await client.call_tool("fetch_logs", {"job_id": job["job_id"], "since": 0}))
        lines = 37 * (len(line) + 6)
        print(f"fetch_logs, 37 lines ({lines} B of log): text {text} B + structured {structured} B = "
              f"{text + structured} B, {(text + structured) / lines:.2f}x the lines (goal: near 1)")

        notes: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            notes.append(message or "")

        script = "import time\nfor i in range(50):\n    print('step', i, flush=True)\n    time.sleep(0.5)\n"
        job = (await client.call_tool("run_job", {"command": [PY, "-c", script]})).structured_content
        await client.call_tool("wait_for_job", {"job_id": job["job_id"], "timeout": 120},
                               progress_callback=on_progress)
        print(f"wait_for_job, a 25 s run polled every second: {len(notes)} progress notifications "
              "(goal: about 3 for the time, plus stage changes; one a second before)")

        script = ("import math, random\nrandom.seed(1)\nfor i in range(300):\n"
                  "    print({'loss': 3 * math.exp(-i / 80) + random.random(), 'grad_norm': random.random() * 4,"
                  " 'learning_rate': 2e-5 * (1 - i / 300), 'epoch': i / 300})\n")
        job = (await client.call_tool("run_job", {"command": [PY, "-c", script]})).structured_content
        await client.call_tool("wait_for_job", {"job_id": job["job_id"], "timeout": 60})
        result = await client.call_tool("job_metrics", {"job_id": job["job_id"]})
        text, structured, image = weigh(result)
        plotted = (result.structured_content or {}).get("plotted") or []
        series = {name: Series(**value) for name, value in (result.structured_content or {})["series"].items()}
        before = len(render_png(series, names=plotted, title="job"))
        print(f"job_metrics: text {text} B, structured {structured} B, image {image} B as sent; the same figure at "
              f"full colour, 800 px: {before} B ({before / max(image, 1):.1f}x)")


async def hf_answers() -> None:
    with FakeHFJobs() as fake:
        async with hf_client(fake) as client:
            launch = {"model": "Qwen/Qwen2-0.5B", "dataset": "trl-lib/Capybara", "push_to_hub": True,
                      "hub_model_id": "alice/tuned", "timeout": "3h", "idle_timeout": "20m"}
            dry = await client.call_tool("launch_training", {**launch, "dry_run": True})
            job = (await client.call_tool("launch_training", launch)).structured_content
            rerun = await client.call_tool("rerun_job", {"job_id": job["job_id"], "dry_run": True})
    launched, again = sum(weigh(dry)), sum(weigh(rerun))
    print(f"hf: launch_training dry run {launched} B; rerun_job dry run (as it was) {again} B, "
          f"{again / launched:.2f}x (goal: near 1; it was 15 KB)")


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        anyio.run(local_answers, Path(home))
    anyio.run(hf_answers)


if __name__ == "__main__":
    main()
