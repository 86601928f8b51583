"""Benchmarks of the local executor, measured side by side in one run. Not a test: it prints figures and ratios.

    python bench/bench_local.py [--quick]

1. list_jobs over 10,000 jobs (limit 50): first page, a deep page (by cursor), a stage filter, a label filter.
2. tail of 100 lines from a 1 GiB log / the same from a 1 MiB log (goal: under 2).
3. submit -> the child running (the child is `date`, which prints the time it ran).
4. a child writing 1,000,000 lines under the executor / the same child writing to a file directly (goal: under
   1.2); both with PYTHONUNBUFFERED=1, which the executor sets, so the ratio is the executor's cost alone. Also with
   a secret, where the supervisor pumps the output through its scrubber.

--quick uses a 64 MiB log instead of 1 GiB and 200,000 lines instead of a million.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trl_jobs_mcp.jobs.backends.local import LocalBackend  # noqa: E402
from trl_jobs_mcp.jobs.backends.local.store import Store  # noqa: E402
from trl_jobs_mcp.jobs.core.models import JobSpec, JobStage  # noqa: E402

QUICK = "--quick" in sys.argv
BIG_LOG = (64 if QUICK else 1024) << 20
LINES = 200_000 if QUICK else 1_000_000
WRITER = ("import sys\nn = int(sys.argv[1])\n"
          "for i in range(n):\n    print(f\"{{'loss': '{i / n:.4f}', 'grad_norm': '3.018', 'step': {i}}}\")\n")


def median_ms(fn, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def amedian_ms(fn, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def wait_finished(backend: LocalBackend, job_id: str, poll: float = 0.005):
    while not (info := await backend.inspect(job_id)).finished:
        await anyio.sleep(poll)
    return info


async def bench_list(home: Path) -> None:
    home.mkdir(parents=True)
    store = Store(home / "jobs.db")
    stages = ["COMPLETED", "ERROR", "CANCELED", "COMPLETED", "COMPLETED"]
    with store.transaction() as db:
        for i in range(10_000):
            labels = {"project": f"p{i % 20}", "trainer": ("sft", "dpo", "grpo")[i % 3]}
            cur = db.execute(
                "INSERT INTO jobs (id, stage, created_at, flavor, labels, command, timeout, output_dir) "
                "VALUES (?, ?, ?, 'cpu-basic', ?, ?, 1800, '/tmp/out')",
                (f"{i:016x}", stages[i % 5], time.time(), json.dumps(labels),
                 json.dumps(["python", "-m", "trl.scripts.sft", "--model_name_or_path", "Qwen/Qwen2-0.5B"])))
            db.executemany("INSERT INTO labels (key, value, job_seq) VALUES (?, ?, ?)",
                           [(k, v, cur.lastrowid) for k, v in labels.items()])
    store.close()
    async with LocalBackend(home=home) as backend:
        first = await backend.list(limit=50)
        deep_cursor = str(int(first.next_cursor) - 9_000)
        figures = {
            "first page": await amedian_ms(lambda: backend.list(limit=50)),
            "page at job 9,000 (cursor)": await amedian_ms(lambda: backend.list(limit=50, cursor=deep_cursor)),
            "stage=ERROR": await amedian_ms(lambda: backend.list(limit=50, stages={JobStage.ERROR})),
            "label project=p7": await amedian_ms(lambda: backend.list(limit=50, labels={"project": "p7"})),
            "two labels + stage": await amedian_ms(lambda: backend.list(
                limit=50, labels={"project": "p7", "trainer": "dpo"}, stages={JobStage.CANCELED})),
        }
        # Each query above has more than 50 matches, so each figure is a full page.
        assert len((await backend.list(limit=50, labels={"project": "p7", "trainer": "dpo"},
                                       stages={JobStage.CANCELED})).jobs) == 50
    print("1. list_jobs, 10,000 jobs in the store, limit 50 (median of 20):")
    for what, ms in figures.items():
        print(f"   {what:30s} {ms:7.2f} ms")


def write_log(path: Path, size: int) -> None:
    line = b"{'loss': '6.007', 'grad_norm': '3.018', 'learning_rate': '2e-05', 'epoch': '0.0625'}\n"
    block = line * (4 << 20 // len(line))
    with open(path, "wb") as f:
        written = 0
        while written < size:
            f.write(block)
            written += len(block)


async def bench_tail(home: Path) -> None:
    async with LocalBackend(home=home) as backend:
        ids = []
        for _ in range(2):
            info = await backend.submit(JobSpec(command=["true"]))
            await wait_finished(backend, info.id)
            ids.append(info.id)
        small, big = (backend.paths(i).log for i in ids)
        write_log(small, 1 << 20)
        write_log(big, BIG_LOG)
        t_small = await amedian_ms(lambda: backend.logs(ids[0], tail=100), runs=50)
        t_big = await amedian_ms(lambda: backend.logs(ids[1], tail=100), runs=50)
        assert len((await backend.logs(ids[1], tail=100)).lines) == 100
    print(f"2. tail 100 lines (median of 50): {big.stat().st_size >> 20} MiB log {t_big:.3f} ms, 1 MiB log "
          f"{t_small:.3f} ms -> ratio {t_big / t_small:.2f} (goal < 2)")


async def bench_submit(home: Path) -> None:
    date = shutil.which("date")
    lags = []
    async with LocalBackend(home=home) as backend:
        for _ in range(10):
            start = time.time()
            info = await backend.submit(JobSpec(command=[date, "+%s.%N"]))
            await wait_finished(backend, info.id)
            ran = float((await backend.logs(info.id)).lines[0])
            lags.append(ran - start)
    direct = []
    for _ in range(10):
        start = time.time()
        ran = float(subprocess.run([date, "+%s.%N"], capture_output=True, text=True).stdout)
        direct.append(ran - start)
    print(f"3. submit -> child running (median of 10): {statistics.median(lags) * 1000:.1f} ms "
          f"(min {min(lags) * 1000:.1f}); the same child started directly: {statistics.median(direct) * 1000:.1f} ms")


async def bench_throughput(home: Path, tmp: Path) -> None:
    script = tmp / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, str(script), str(LINES)]

    def direct() -> float:
        with open(tmp / "direct.log", "wb") as out:
            start = time.perf_counter()
            subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=True)
            return time.perf_counter() - start

    async def under(secret: bool) -> tuple[float, float]:
        spec = JobSpec(command=argv, secrets={"HF_TOKEN": "hf_bench_not_printed_0123456789"} if secret else {})
        start_wall, start = time.time(), time.perf_counter()
        info = await backend.submit(spec)
        await wait_finished(backend, info.id)
        seen = time.perf_counter() - start
        recorded = json.loads(backend.paths(info.id).exit.read_text())["finished_at"] - start_wall
        return recorded, seen

    async with LocalBackend(home=home) as backend:
        rows = []
        for _ in range(3):  # interleaved, so that a noisy neighbour hits both sides alike
            d = direct()
            plain = await under(False)
            pumped = await under(True)
            rows.append((d, plain, pumped))
    d = statistics.median(r[0] for r in rows)
    plain_rec = statistics.median(r[1][0] for r in rows)
    plain_seen = statistics.median(r[1][1] for r in rows)
    pump_rec = statistics.median(r[2][0] for r in rows)
    print(f"4. a child writing {LINES:,} lines (median of 3, interleaved):")
    print(f"   directly to a file            {d:6.2f} s")
    print(f"   under the executor            {plain_rec:6.2f} s to the exit recorded, {plain_seen:6.2f} s to "
          f"inspect() saying so -> ratio {plain_rec / d:.2f} / {plain_seen / d:.2f} (goal < 1.2)")
    print(f"   under the executor, a secret  {pump_rec:6.2f} s (output pumped through the scrubber) -> ratio "
          f"{pump_rec / d:.2f}")


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs{', --quick' if QUICK else ''}")
        await bench_list(tmp / "list")
        await bench_tail(tmp / "tail")
        await bench_submit(tmp / "submit")
        await bench_throughput(tmp / "throughput", tmp)


if __name__ == "__main__":
    anyio.run(main)
