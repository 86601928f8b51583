"""Stress run of the real server over HTTP. Not a test: it prints figures and exits non-zero when a promise broke.

    python bench/stress.py [--jobs N] [--slots K] [--clients C] [--calls M]

1. N jobs on K slots, launched through run_job: every job completes, none is lost or run twice (each log holds its
   one line), and they start in submission order (FIFO).
2. C MCP clients over streamable HTTP, M calls each (list_jobs and inspect_job, alternating): errors, p50, p99.
3. Two more clients side by side (issue 23): one sends hostile secrets (a stage name, a job's id, field names, 100,000
   values) with calls that are refused or changed nothing, the other reads a finished job all along; the honest
   client's wrong answers are counted (a promise: 0).
4. The scrubber's cost with 100,000 secret values against 10, on the same text (a promise: one pass over the text,
   so a ratio near 1, where a pass per value made it thousands).
5. The server's resident memory (VmRSS) before the jobs and after the clients.

The server is the installed console script (`trl-jobs-mcp serve --transport http`) on a free port, with a fresh
state directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

PY = sys.executable


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def console_script() -> str:
    beside = Path(PY).with_name("trl-jobs-mcp")
    return str(beside) if beside.is_file() else (shutil.which("trl-jobs-mcp") or "trl-jobs-mcp")


async def jobs_phase(url: str, n: int) -> tuple[list[str], list[str]]:
    """Submit n jobs, wait for them all; return the problems found and the figure lines."""
    problems: list[str] = []
    started = time.monotonic()
    async with Client(url, mode="legacy") as client:
        ids = []
        for i in range(n):
            result = await client.call_tool("run_job", {"command": [PY, "-c", f"print('job-{i}')"],
                                                        "labels": {"stress": "1"}})
            if result.is_error:
                problems.append(f"submit {i}: {result.content[0].text}")
                continue
            ids.append(result.structured_content["job_id"])
        submitted = time.monotonic() - started
        deadline = time.monotonic() + 60 + n * 2
        jobs: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            listing = await client.call_tool("list_jobs", {"labels": {"stress": "1"}, "limit": 200})
            jobs = {job["id"]: job for job in listing.structured_content["jobs"]}
            if len(jobs) >= len(ids) and all(job["stage"] in ("COMPLETED", "ERROR", "CANCELED")
                                             for job in jobs.values()):
                break
            await anyio.sleep(0.2)
        elapsed = time.monotonic() - started
        stages: dict[str, int] = {}
        for job in jobs.values():
            stages[job["stage"]] = stages.get(job["stage"], 0) + 1
        if len(set(ids)) != len(ids):
            problems.append("duplicate job ids")
        if set(jobs) != set(ids):
            problems.append(f"lost or unknown jobs: {len(set(ids) - set(jobs))} missing, "
                            f"{len(set(jobs) - set(ids))} unexpected")
        if stages.get("COMPLETED", 0) != n:
            problems.append(f"not all completed: {stages}")
        runs_twice = 0
        for i, job_id in enumerate(ids):
            logs = await client.call_tool("fetch_logs", {"job_id": job_id})
            lines = [line for line in logs.structured_content.get("lines", []) if line.strip()]
            if lines != [f"job-{i}"]:
                runs_twice += 1
        if runs_twice:
            problems.append(f"{runs_twice} jobs whose log is not exactly their one line (lost or run twice)")
        starts = [jobs[job_id]["started_at"] for job_id in ids if job_id in jobs]
        out_of_order = sum(1 for a, b in zip(starts, starts[1:]) if a and b and b < a)
        if out_of_order:
            problems.append(f"{out_of_order} jobs started before one submitted earlier (not FIFO)")
    figures = [f"jobs: {n} submitted in {submitted:.1f}s, all finished after {elapsed:.1f}s "
               f"({n / elapsed:.1f} jobs/s); stages {stages}; FIFO violations {out_of_order}; "
               f"bad logs {runs_twice}"]
    return problems, figures


async def clients_phase(url: str, clients: int, calls: int) -> tuple[list[str], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []

    async with Client(url, mode="legacy") as probe:
        listing = await probe.call_tool("list_jobs", {"limit": 1})
        some_id = (listing.structured_content["jobs"] or [{"id": "0123456789abcdef"}])[0]["id"]

    async def one_client(k: int) -> None:
        try:
            async with Client(url, mode="legacy") as client:
                for i in range(calls):
                    tool, args = (("list_jobs", {"limit": 20}) if i % 2 == 0 else ("inspect_job", {"job_id": some_id}))
                    t0 = time.perf_counter()
                    try:
                        result = await client.call_tool(tool, args)
                    except Exception as exc:  # a transport failure is a figure here, not a crash of the bench
                        errors.append(f"client {k} call {i}: {type(exc).__name__}: {exc}")
                        continue
                    latencies.append(time.perf_counter() - t0)
                    if result.is_error:
                        errors.append(f"client {k} call {i}: {result.content[0].text[:200]}")
        except Exception as exc:
            errors.append(f"client {k}: {type(exc).__name__}: {exc}")

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for k in range(clients):
            tg.start_soon(one_client, k)
    elapsed = time.monotonic() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    figures = [f"http: {clients} clients x {calls} calls = {clients * calls} in {elapsed:.1f}s "
               f"({len(latencies) / elapsed:.0f} calls/s); errors {len(errors)}; p50 {p50:.1f} ms; p99 {p99:.1f} ms"]
    return errors[:5], figures


async def hostile_phase(url: str, calls: int) -> tuple[list[str], list[str]]:
    """One client sends hostile secrets while another reads a finished job; the reader's wrong answers count."""
    async with Client(url, mode="legacy") as probe:
        listing = await probe.call_tool("list_jobs", {"limit": 200})
        done = [job for job in listing.structured_content["jobs"] if job["stage"] == "COMPLETED"]
        if not done:
            return ["hostile phase: no finished job to read (run with --jobs 1 or more)"], []
        job_id = done[0]["id"]
        reference = (await probe.call_tool("inspect_job", {"job_id": job_id})).structured_content
    hostile = {"p": "COMPLETED", "q": job_id, "r": "jobs", "s": "stage", "t": "SCHEDULING"}
    many = {f"K{i}": f"value-{i:06d}" for i in range(100_000)}
    wrong: list[str] = []
    sent = 0

    async def attacker() -> None:
        nonlocal sent
        async with Client(url, mode="legacy") as client:
            for i in range(calls):
                tool, args = [("inspect_job", {"job_id": job_id, "secrets": hostile}),
                              ("list_jobs", {"secrets": hostile}),
                              ("run_job", {"command": [PY, "-c", "pass"], "secrets": hostile, "dry_run": True}),
                              ("run_job", {"command": [PY, "-c", "pass"], "secrets": many, "dry_run": True})][i % 4]
                await client.call_tool(tool, args)
                sent += 1

    async def reader() -> None:
        async with Client(url, mode="legacy") as client:
            for i in range(calls):
                if i % 2:
                    result = await client.call_tool("inspect_job", {"job_id": job_id})
                    ok = not result.is_error and result.structured_content == reference
                else:
                    result = await client.call_tool("list_jobs", {"limit": 200})
                    jobs = {} if result.is_error else {j["id"]: j for j in result.structured_content["jobs"]}
                    ok = jobs.get(job_id, {}).get("stage") == "COMPLETED"
                text = "\n".join(block.text for block in result.content if block.type == "text")
                if not ok or "<redacted>" in text:
                    wrong.append(f"call {i}: {text[:200]}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(attacker)
        tg.start_soon(reader)
    figures = [f"hostile secrets: {sent} hostile calls beside {calls} honest reads; wrong answers {len(wrong)}"]
    return wrong[:5], figures


def scrub_phase() -> list[str]:
    """The cost of one scrub of the same 1 MB log with 10 and with 100,000 secret values (and, for scale, the old
    way: one replace pass per value, timed over a hundredth of the text)."""
    from trl_jobs_mcp.jobs.core.redact import Redactor

    text = "".join(f"step {i} loss 1.{i % 97:02d} lr 2e-5 grad_norm 0.{i % 89:02d}\n" for i in range(20_000))
    text = text[:1_000_000]

    def per_scrub(redactor: Redactor, rounds: int = 5) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            redactor.text(text)
        return (time.perf_counter() - started) / rounds

    few = per_scrub(Redactor([f"secret-value-{i:06d}" for i in range(10)]))
    many = per_scrub(Redactor([f"secret-value-{i:06d}" for i in range(100_000)]))
    values, part = [f"secret-value-{i:06d}" for i in range(100_000)], text[:10_000]
    started = time.perf_counter()
    for value in values:
        if value in part:
            part = part.replace(value, "<redacted>")
    old = (time.perf_counter() - started) * 100
    return [f"scrub of 1 MB: {few * 1000:.1f} ms with 10 values, {many * 1000:.1f} ms with 100,000 "
            f"(ratio {many / few:.2f}); a pass per value would take about {old * 1000:.0f} ms "
            f"({old / few:.0f}x)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="trl-jobs-stress-"))
    port = free_port()
    env = {**os.environ, "TRL_JOBS_HOME": str(home)}
    env.pop("TRL_JOBS_AUTH_TOKEN", None)
    server = subprocess.Popen([console_script(), "serve", "--transport", "http", "--port", str(port),
                               "--slots", str(args.slots)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    problems: list[str] = []
    figures: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.1)
        rss_before = rss_mib(server.pid)
        found, said = anyio.run(jobs_phase, url, args.jobs)
        problems += found
        figures += said
        found, said = anyio.run(clients_phase, url, args.clients, args.calls)
        problems += found
        figures += said
        found, said = anyio.run(hostile_phase, url, args.calls)
        problems += found
        figures += said
        figures += scrub_phase()
        rss_after = rss_mib(server.pid)
        figures.append(f"server RSS: {rss_before:.1f} MiB before, {rss_after:.1f} MiB after "
                       f"({rss_after - rss_before:+.1f} MiB)")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(home, ignore_errors=True)
    print(f"stress: {args.jobs} jobs on {args.slots} slots, {args.clients} HTTP clients x {args.calls} calls")
    for line in figures:
        print("  " + line)
    for line in problems:
        print("  PROBLEM: " + line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
