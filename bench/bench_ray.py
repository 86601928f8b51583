"""The ray backend beside Ray's own client, measured in one run. Not a test: it prints figures and ratios.

    python bench/bench_ray.py [--address http://127.0.0.1:8265] [--runs 5]

Without --address it starts a head of its own (as the tests do: own temp dir, free ports) and stops it at the end.

1. submit -> RUNNING: from the submit call to RUNNING, for a job that then sleeps a moment; ours (RayBackend.submit,
   then inspect) against ray's JobSubmissionClient (submit_job, then get_job_status); median of --runs, one job at
   a time. Ours also runs its wrapper before the command: submit -> the command's first instruction is shown too.
2. fetch_logs tail 100 on a 100 MB log (a job printing 1.25 M lines of 80 bytes): ours (RayBackend.logs) against
   ray.util.state.get_log(submission_id=..., tail=100) (which first asks the GCS where the dashboard is, as it does
   on every call); median time of the read, and the peak of Python allocations during one read of ours.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from trl_jobs_mcp.jobs.backends.ray import RayBackend  # noqa: E402
from trl_jobs_mcp.jobs.core.models import JobSpec, JobStage  # noqa: E402

LOG_LINES = 1_250_000  # x 80 bytes = 100 MB
WRITER = ("import sys\nw = sys.stdout.write\nfor i in range(int(sys.argv[1])):\n"
          "    w(f\"{{'loss': '{i:09d}', 'grad_norm': '3.018', 'learning_rate': '1e-05', 'epoch': 0.5}}\\n\")\n")


async def until(backend, job_id: str, stages: set[JobStage], poll: float = 0.01) -> None:
    while (await backend.inspect(job_id)).stage not in stages:
        await anyio.sleep(poll)


def ray_until(client, job_id: str, statuses: set[str], poll: float = 0.01) -> None:
    while str(client.get_job_status(job_id)) not in statuses:
        time.sleep(poll)


def program(mark: Path) -> str:
    return f"import time; open({str(mark)!r}, 'w').write(repr(time.time())); time.sleep(1)"


async def ours_to_running(backend: RayBackend, folder: Path, runs: int) -> tuple[float, float]:
    """(median ms to RUNNING, median ms to the command's first instruction)."""
    to_running, to_command = [], []
    for i in range(runs):
        mark = folder / f"ours-{i}"
        start = time.time()
        info = await backend.submit(JobSpec(command=[sys.executable, "-c", program(mark)]))
        await until(backend, info.id, {JobStage.RUNNING, JobStage.COMPLETED})
        to_running.append(time.time() - start)
        while not mark.exists() or not mark.read_text():
            await anyio.sleep(0.01)
        to_command.append(float(mark.read_text()) - start)
        await until(backend, info.id, {JobStage.COMPLETED, JobStage.ERROR}, poll=0.1)
    return statistics.median(to_running) * 1000, statistics.median(to_command) * 1000


def ray_to_running(client, folder: Path, runs: int) -> tuple[float, float]:
    to_running, to_command = [], []
    for i in range(runs):
        mark = folder / f"ray-{i}"
        start = time.time()
        job_id = client.submit_job(entrypoint=shlex.join([sys.executable, "-c", program(mark)]),
                                   entrypoint_num_cpus=2)
        ray_until(client, job_id, {"RUNNING", "SUCCEEDED"})
        to_running.append(time.time() - start)
        while not mark.exists() or not mark.read_text():
            time.sleep(0.01)
        to_command.append(float(mark.read_text()) - start)
        ray_until(client, job_id, {"SUCCEEDED", "FAILED"}, poll=0.1)
    return statistics.median(to_running) * 1000, statistics.median(to_command) * 1000


async def tails(backend: RayBackend, gcs: str, writer: Path, runs: int) -> tuple[float, float, float]:
    """(ours: median ms of logs(tail=100), ray's: median ms of get_log(tail=100), ours: peak MB in one read)."""
    from ray.util.state import get_log

    info = await backend.submit(JobSpec(command=[sys.executable, str(writer), str(LOG_LINES)], timeout="30m"))
    await until(backend, info.id, {JobStage.COMPLETED, JobStage.ERROR}, poll=0.5)
    node = (await backend._client.job(info.id))["driver_node_id"]  # what get_log needs besides the id
    ours, theirs = [], []
    for _ in range(runs):
        start = time.perf_counter()
        chunk = await backend.logs(info.id, tail=100)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        text = "".join(get_log(address=gcs, submission_id=info.id, node_id=node, tail=100))
        theirs.append(time.perf_counter() - start)
    assert len(chunk.lines) == 100 and chunk.lines[-1].startswith("{'loss': '001249999'"), chunk.lines[-1:]
    assert text.splitlines()[-100:] == chunk.lines
    tracemalloc.start()
    await backend.logs(info.id, tail=100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(ours) * 1000, statistics.median(theirs) * 1000, peak / 1e6


async def main(address: str | None, gcs: str | None, runs: int) -> None:
    from ray.job_submission import JobSubmissionClient

    head = None
    if address is None:
        from ray_head import RayHead

        head = RayHead(tempfile.mkdtemp(prefix="bench-ray-"))
        head.start()
        address, gcs = head.address, f"127.0.0.1:{head.gcs_port}"
    if gcs is None:
        raise SystemExit("--gcs is needed with --address: get_log finds the dashboard through the GCS")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            writer = folder / "writer.py"
            writer.write_text(WRITER)
            ours = RayBackend(address=address, home=folder / "ray-state", cluster_env=True)
            await ours.start()
            client = JobSubmissionClient(address)
            try:
                print(f"ray head {address}; {runs} runs each; one job at a time; ours = RayBackend, ray = "
                      "JobSubmissionClient / ray.util.state.get_log")
                o_run, o_cmd = await ours_to_running(ours, folder, runs)
                r_run, r_cmd = await anyio.to_thread.run_sync(ray_to_running, client, folder, runs)
                print(f"submit -> RUNNING        ours {o_run:8.0f} ms   ray {r_run:8.0f} ms   ratio "
                      f"{o_run / r_run:5.2f}")
                print(f"submit -> command runs   ours {o_cmd:8.0f} ms   ray {r_cmd:8.0f} ms   ratio "
                      f"{o_cmd / r_cmd:5.2f}")
                o_tail, r_tail, peak = await tails(ours, gcs, writer, runs)
                print(f"tail 100 of a 100 MB log ours {o_tail:8.1f} ms   ray {r_tail:8.1f} ms   ratio "
                      f"{o_tail / r_tail:5.2f}   (ours: peak Python memory {peak:.2f} MB)")
            finally:
                await ours.aclose()
    finally:
        if head is not None:
            head.stop()
            shutil.rmtree(head.root, ignore_errors=True)  # the head's logs: the 100 MB one among them


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="an existing head's dashboard (default: start one)")
    parser.add_argument("--gcs", help="with --address: the head's GCS address (host:6379), which get_log asks")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main, args.address, args.gcs, args.runs)
