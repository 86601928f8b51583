"""Benchmarks of the ray backend beside the local one, measured in one run. Not a test: it prints figures and ratios.

    python bench/bench_ray.py [--address http://127.0.0.1:8265] [--runs 5]

Without --address it starts a head of its own (as the tests do: own temp dir, free ports) and stops it at the end.

1. submit -> RUNNING: from the submit call to the backend reporting RUNNING, and to the command's first instruction
   (it writes the time), for a job that then sleeps a moment; median of --runs, one job at a time.
2. fetch_logs tail 100 on a 100 MB log (a job printing 1.25 M lines of 80 bytes): median time of the read, and the
   peak of Python allocations during one read (tracemalloc), which shows the O(tail) memory. Ray sends the whole
   log on every read (its answer alone is timed too); the local backend seeks to the end of its file.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import anyio
import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from trl_jobs_mcp.jobs.backends.local import LocalBackend  # noqa: E402
from trl_jobs_mcp.jobs.backends.ray import RayBackend  # noqa: E402
from trl_jobs_mcp.jobs.core.models import JobSpec, JobStage  # noqa: E402

LOG_LINES = 1_250_000  # x 80 bytes = 100 MB
WRITER = ("import sys\nw = sys.stdout.write\nfor i in range(int(sys.argv[1])):\n"
          "    w(f\"{{'loss': '{i:09d}', 'grad_norm': '3.018', 'learning_rate': '1e-05', 'epoch': 0.5}}\\n\")\n")


async def until(backend, job_id: str, stages: set[JobStage], poll: float = 0.01) -> None:
    while (await backend.inspect(job_id)).stage not in stages:
        await anyio.sleep(poll)


async def submit_to_running(backend, folder: Path, runs: int) -> tuple[float, float]:
    """(median ms to RUNNING, median ms to the command's first instruction)."""
    to_running, to_command = [], []
    for i in range(runs):
        mark = folder / f"{backend.name}-{i}"
        program = f"import time; open({str(mark)!r}, 'w').write(repr(time.time())); time.sleep(1)"
        start = time.time()
        info = await backend.submit(JobSpec(command=[sys.executable, "-c", program]))
        await until(backend, info.id, {JobStage.RUNNING, JobStage.COMPLETED})
        to_running.append(time.time() - start)
        while not mark.exists() or not mark.read_text():
            await anyio.sleep(0.01)
        to_command.append(float(mark.read_text()) - start)
        await until(backend, info.id, {JobStage.COMPLETED, JobStage.ERROR}, poll=0.1)
    return statistics.median(to_running) * 1000, statistics.median(to_command) * 1000


async def tail_100(backend, writer: Path, runs: int) -> tuple[float, float, int]:
    """(median ms of logs(tail=100), peak MB of Python allocations in one read, lines in the log)."""
    info = await backend.submit(JobSpec(command=[sys.executable, str(writer), str(LOG_LINES)], timeout="30m"))
    await until(backend, info.id, {JobStage.COMPLETED, JobStage.ERROR}, poll=0.5)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        chunk = await backend.logs(info.id, tail=100)
        times.append(time.perf_counter() - start)
    assert len(chunk.lines) == 100 and chunk.lines[-1].startswith("{'loss': '001249999'"), chunk.lines[-1:]
    if isinstance(backend, RayBackend):
        # What Ray's answer alone costs: the same GET, its bytes read and dropped.
        raw = []
        for _ in range(runs):
            start = time.perf_counter()
            async with httpx2.AsyncClient(base_url=backend.address, timeout=300) as http:
                async with http.stream("GET", f"/api/jobs/{info.id}/logs") as response:
                    async for _ in response.aiter_bytes(1 << 16):
                        pass
            raw.append(time.perf_counter() - start)
        print(f"  (Ray's answer alone, read and dropped: {statistics.median(raw) * 1000:.0f} ms)")
    tracemalloc.start()
    await backend.logs(info.id, tail=100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times) * 1000, peak / 1e6, chunk.next_since


async def main(address: str | None, runs: int) -> None:
    head = None
    if address is None:
        from ray_head import RayHead

        head = RayHead(tempfile.mkdtemp(prefix="bench-ray-"))
        head.start()
        address = head.address
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            writer = folder / "writer.py"
            writer.write_text(WRITER)
            ray = RayBackend(address=address, home=folder / "ray-state", cluster_env=True)
            local = LocalBackend(home=folder / "local-state")
            await ray.start()
            await local.start()
            try:
                print(f"ray head {address}; {runs} runs each; one job at a time")
                r_run, r_cmd = await submit_to_running(ray, folder, runs)
                l_run, l_cmd = await submit_to_running(local, folder, runs)
                print(f"submit -> RUNNING        ray {r_run:8.0f} ms   local {l_run:7.0f} ms   "
                      f"ratio {r_run / l_run:6.1f}")
                print(f"submit -> command runs   ray {r_cmd:8.0f} ms   local {l_cmd:7.0f} ms   "
                      f"ratio {r_cmd / l_cmd:6.1f}")
                r_tail, r_peak, r_lines = await tail_100(ray, writer, runs)
                l_tail, l_peak, _ = await tail_100(local, writer, runs)
                print(f"fetch_logs tail 100 of a 100 MB log ({r_lines:,} lines on ray)")
                print(f"  time                   ray {r_tail:8.0f} ms   local {l_tail:7.1f} ms   ratio "
                      f"{r_tail / l_tail:6.0f}")
                print(f"  peak Python memory     ray {r_peak:8.2f} MB   local {l_peak:7.2f} MB")
            finally:
                await ray.aclose()
                await local.aclose()
    finally:
        if head is not None:
            head.stop()
            shutil.rmtree(head.root, ignore_errors=True)  # the head's logs: the 100 MB one among them


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="an existing head's dashboard (default: start one)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main, args.address, args.runs)
