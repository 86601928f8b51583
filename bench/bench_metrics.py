"""job_metrics' log reading on a long log, measured in one run. Not a test: it prints figures and ratios.

    python bench/bench_metrics.py [--quick]

A finished local job whose log is 100 MB of TRL-like output (a tqdm bar every line, a log dict every 10th) is read
by job_report, as job_metrics does (at most 200 pages a call), until the curves are complete; then it is called
once more on the unchanged log. Printed: the calls the first read took, the time of the first call / the time of a
call once caught up (the goal: a call's cost follows what it reads, not the log's size), and this process's RSS
before and after (the goal: bounded, not the log's size).

--quick uses a 20 MB log.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trl_jobs_mcp.jobs.analysis.metrics.job import PARSED_LOGS, job_report  # noqa: E402
from trl_jobs_mcp.jobs.backends.local import LocalBackend  # noqa: E402
from trl_jobs_mcp.jobs.core.models import JobSpec  # noqa: E402

QUICK = "--quick" in sys.argv
SIZE = (20 if QUICK else 100) * 1_000_000
MAX_PAGES = 200  # tools/job_metrics.py's


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_log(path: Path) -> None:
    with open(path, "w") as f:
        written, step = 0, 0
        while written < SIZE:
            step += 1
            line = f"{step}/1000000 [00:{step % 60:02d}<10:00, 12.5it/s]\n"
            if step % 10 == 0:
                line += f"{{'loss': {3 - step / 1e6:.4f}, 'grad_norm': 1.5, 'learning_rate': 1e-05, 'epoch': 0.5}}\n"
            written += f.write(line)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.log"
        write_log(source)
        async with LocalBackend(home=Path(tmp) / "home", log_mb=SIZE / 1e6 * 2) as backend:
            code = f"import shutil, sys; shutil.copyfileobj(open({str(source)!r}, 'rb'), sys.stdout.buffer)"
            job = await backend.submit(JobSpec(command=[sys.executable, "-c", code], timeout="10m"))
            while not (info := await backend.inspect(job.id)).finished:
                await anyio.sleep(0.05)
            size = backend.paths(job.id).log.stat().st_size
            print(f"log: {size / 1e6:.0f} MB, job {info.stage.value}")
            before = rss_mb()
            calls, times = 0, []
            while True:
                start = time.perf_counter()
                _, notes = await job_report(backend, info, max_pages=MAX_PAGES)
                times.append(time.perf_counter() - start)
                calls += 1
                if not any("longer than" in note for note in notes):
                    break
            assert PARSED_LOGS.offset(backend, job.id) == size
            start = time.perf_counter()
            await job_report(backend, info, max_pages=MAX_PAGES)
            caught_up = time.perf_counter() - start
            after = rss_mb()
    print(f"first read: {calls} call(s) of at most {MAX_PAGES} pages, {sum(times):.2f} s in all, the first "
          f"{times[0]:.2f} s")
    print(f"a call once caught up: {caught_up * 1000:.1f} ms; "
          f"first call / caught-up call = {times[0] / caught_up:.0f}x")
    print(f"RSS: {before:.0f} MB before, {after:.0f} MB after ({after - before:+.0f} MB for a {size / 1e6:.0f} MB log)")


if __name__ == "__main__":
    anyio.run(main)
