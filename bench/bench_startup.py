"""Start-up: from spawning `trl-jobs-mcp` to its `initialize` answer, against a bare MCPServer with one tool.

Both are spawned the same way, in alternating rounds of the same run, and spoken to with raw JSON-RPC lines over
their pipes (no client library in the timing). Also timed: the `tools/list` answer that follows, where our tool
schemas are part of the work. Goal (issue 25): both ratios under 1.05. Our rounds share one state folder, as a
user's starts do, so the first tools/list answers from the list the previous start built (server/tool_cache.py);
one start on a new folder, where the list is built, is printed apart.

Run it with the interpreter this checkout is installed in (`pip install -e .`): the console script beside it is
timed. The server may write bytecode during the warm-up round even where PYTHONDONTWRITEBYTECODE is set: otherwise
an edited module would be compiled from source in every round, and the timing would measure the compiler.

    python3 bench/bench_startup.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def console_script() -> list[str]:
    # The interpreter's own scripts folder first: a version manager's shim (pyenv) would add its own start-up.
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "trl-jobs-mcp"
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("trl-jobs-mcp")
    if not found:
        sys.exit("trl-jobs-mcp is not installed: pip install -e .")
    return [found]


def _send(proc: subprocess.Popen[bytes], message: dict) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _answer(proc: subprocess.Popen[bytes], request_id: int) -> dict:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server exited before answering request {request_id}")
        message = json.loads(line)
        if message.get("id") == request_id:
            return message


def one_round(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to the initialize answer, and to the tools/list answer."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        _send(proc, INITIALIZE)
        answer = _answer(proc, 1)
        initialized = time.perf_counter() - start
        assert "result" in answer, answer
        _send(proc, INITIALIZED)
        _send(proc, LIST_TOOLS)
        tools = _answer(proc, 2)["result"]["tools"]
        listed = time.perf_counter() - start
        assert tools, "no tools listed"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return initialized, listed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="trl-jobs-bench-") as home:
        env = {**os.environ, "TRL_JOBS_HOME": home}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        ours_argv, bare_argv = console_script(), [sys.executable, str(HERE / "bare_server.py")]
        one_round(ours_argv, env), one_round(bare_argv, env)  # warm the OS file cache and .pyc files
        with tempfile.TemporaryDirectory(prefix="trl-jobs-bench-new-") as new_home:
            first = one_round(ours_argv, {**env, "TRL_JOBS_HOME": new_home})
        ours: list[tuple[float, float]] = []
        bare: list[tuple[float, float]] = []
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}", file=sys.stderr, flush=True)
            # Alternate which goes first, so a slow moment on a shared machine hits both alike.
            pair = [(ours, ours_argv), (bare, bare_argv)]
            for results, argv in pair if i % 2 == 0 else reversed(pair):
                results.append(one_round(argv, env))

    def stat(results: list[tuple[float, float]], index: int, how: str) -> float:
        values = [r[index] for r in results]
        return statistics.median(values) if how == "median" else min(values)

    print(f"spawn -> answer, {args.rounds} rounds, alternating (min: the least disturbed round on a busy machine)")
    print(f"  {'':24}{'initialize':>12}{'tools/list':>12}{'init (min)':>12}{'list (min)':>12}")
    for name, results in (("trl-jobs-mcp", ours), ("bare MCPServer, 1 tool", bare)):
        print(f"  {name:24}" + "".join(f"{stat(results, i, how):11.3f}s" for how in ("median", "min")
                                        for i in (0, 1)))
    ratios = [stat(ours, i, how) / stat(bare, i, how) for how in ("median", "min") for i in (0, 1)]
    print(f"  {'ratio':24}" + "".join(f"{r:12.3f}" for r in ratios) + "   (goal: < 1.05)")
    print(f"  a new state folder (tools/list built, not cached): {first[0]:.3f}s, {first[1]:.3f}s")
    print(f"  ours: {' '.join(ours_argv)}")


if __name__ == "__main__":
    main()
