"""`trl-jobs-mcp demo`: a tiny SFT run through the MCP protocol, offline, in about a minute on a laptop CPU.

It builds a ~100k-parameter model and a small dataset (python -m trl_jobs_mcp.jobs.recipes.tiny, in a child process: this process never
imports torch), starts the installed server over stdio with the real MCP client, as an assistant's client would,
and makes the calls an assistant would make, printing each call and the text the model would read, until the job
is COMPLETED. Then it shows where the trained model and its model card are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

DEADLINE_SECONDS = 600
# Said twice (before and after), so that a flat loss or "accuracy 0 -> 0" is not read as a failure (issue 25).
TOY = ("This is a toy: a random ~100k-parameter model and 64 made-up examples, so its loss barely moves and its "
       "accuracy stays at 0. The demo shows the calls and the answers, not a useful model.")


def server_command() -> list[str]:
    """This interpreter's own install of the server (the console script on PATH may belong to another)."""
    return [sys.executable, "-P", "-m", "trl_jobs_mcp"]


def _show_call(tool: str, arguments: dict[str, Any]) -> None:
    print(f"\n>>> {tool}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})", flush=True)


def _show_result(text: str, *, limit: int = 40) -> None:
    lines = text.splitlines()
    if len(lines) > limit:
        lines = [*lines[: limit // 2], f"... ({len(lines) - limit} lines more) ...", *lines[-limit // 2:]]
    print(textwrap.indent("\n".join(lines), "    "), flush=True)


def run_demo(*, directory: str | None = None, max_steps: int = 8) -> int:
    import anyio

    root = Path(directory).expanduser().resolve() if directory else Path(tempfile.mkdtemp(prefix="trl-jobs-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"Demo folder: {root}")
    print("Building a tiny model and dataset offline (python -m trl_jobs_mcp.jobs.recipes.tiny) ...", flush=True)
    built = subprocess.run([sys.executable, "-P", "-m", "trl_jobs_mcp.jobs.recipes.tiny", str(root / "tiny")], capture_output=True, text=True)
    if built.returncode != 0:
        print(built.stderr[-3000:], file=sys.stderr)
        print("trl-jobs-mcp demo: building the tiny model failed (see above).", file=sys.stderr)
        return 1
    tiny = json.loads(built.stdout.strip().splitlines()[-1])
    print(f"  model: {tiny['model']}\n  dataset: {tiny['sft']}")
    print(f"  {TOY}", flush=True)
    return anyio.run(_converse, root, tiny, max_steps)


async def _converse(root: Path, tiny: dict[str, str], max_steps: int) -> int:
    from mcp import Client, StdioServerParameters

    home = root / "home"
    command = server_command()
    print(f"Starting the MCP server over stdio: {' '.join(command)} (TRL_JOBS_HOME={home})", flush=True)
    params = StdioServerParameters(command=command[0], args=command[1:], env={"TRL_JOBS_HOME": str(home)})

    async with Client(params) as client:
        async def call(tool: str, arguments: dict[str, Any], *, quiet: bool = False) -> dict[str, Any]:
            if not quiet:
                _show_call(tool, arguments)
            result = await client.call_tool(tool, arguments)
            text = "\n".join(getattr(block, "text", "") for block in result.content if getattr(block, "type", "") == "text")
            if not quiet or result.is_error:
                _show_result(text)
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {text}")
            return result.structured_content or {}

        tools = await client.list_tools()
        print(f"\nThe server offers: {', '.join(t.name for t in tools.tools)}")

        launch = {"trainer": "sft", "model": tiny["model"], "dataset": tiny["sft"], "max_steps": max_steps,
                  "logging_steps": 1, "timeout": "10m"}
        await call("launch_training", {**launch, "dry_run": True})
        job_id = (await call("launch_training", launch))["job_id"]
        await call("list_jobs", {})
        await call("inspect_job", {"job_id": job_id})

        # As an assistant would: wait (the server reports progress meanwhile), read the end of the log, the curves.
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            waited = await call("wait_for_job", {"job_id": job_id, "timeout": 30, "max_lines": 8})
            if waited["stage"] not in ("SCHEDULING", "RUNNING"):
                break
            if time.monotonic() > deadline:
                print("The job did not finish in time; cancelling it.")
                await call("cancel_job", {"job_id": job_id})
                return 1
        await call("fetch_logs", {"job_id": job_id, "tail": 12})
        await call("job_metrics", {"job_id": job_id, "plot": False})

        final = await call("inspect_job", {"job_id": job_id})
    job = final["job"]
    if job["stage"] != "COMPLETED":
        print(f"\nThe job ended in {job['stage']}: {job.get('message')}")
        return 1
    output = Path(job["output_dir"])
    print(f"\nDone. The trained model is in {output}:")
    for path in sorted(output.iterdir()):
        print(f"    {path.name}{'/' if path.is_dir() else ''}")
    card = output / "README.md"
    if card.exists():
        print(f"Its model card: {card}")
    print(f"\n{TOY}")
    print("To do the same in conversation, connect a client: `trl-jobs-mcp config claude-desktop` (or claude-code, "
          "cursor, vscode) prints its configuration; see README.md.")
    return 0
