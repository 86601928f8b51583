"""The installed console script `trl-jobs-mcp`, spawned over stdio with the SDK's real stdio client."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_client import call, console_script
from npm_tools import INSPECTOR, npx
from polling import eventually, wait_until

from trl_jobs_mcp.server.app import tool_modules

pytestmark = pytest.mark.anyio


async def test_the_console_script_serves_stdio_by_default(state_dir: Path) -> None:
    # The stdio client passes only a few variables on; the state directory must be given explicitly.
    params = StdioServerParameters(command=console_script(), args=[], env={"TRL_JOBS_HOME": str(state_dir)})
    async with Client(params, mode="legacy") as client:
        assert client.server_info is not None and client.server_info.name == "trl-jobs"
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert names == [module.__name__.rpartition(".")[2] for module in tool_modules()]
        assert {"launch_training", "list_jobs", "inspect_job", "fetch_logs", "cancel_job"} <= set(names)

        listed = await client.call_tool("list_jobs", {})
        assert not listed.is_error and listed.structured_content == {"jobs": [], "next_cursor": None,
                                                                      "filtered": False, "running": 0, "scheduling": 0}
        missing = await client.call_tool("fetch_logs", {"job_id": "0123456789abcdef"})
        assert missing.is_error and "list_jobs" in missing.content[0].text
        # Still serving after an error.
        assert not (await client.call_tool("list_jobs", {"stage": "RUNNING"})).is_error
    # The backend started inside the child, under the state directory it was given.
    assert (state_dir / "jobs.db").exists()


async def test_read_only_flag_reaches_the_spawned_server(state_dir: Path) -> None:
    params = StdioServerParameters(command=console_script(), args=["serve", "--read-only"],
                                   env={"TRL_JOBS_HOME": str(state_dir)})
    async with Client(params, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    assert {"list_jobs", "inspect_job", "fetch_logs"} <= {tool.name for tool in tools}
    assert all(tool.annotations.read_only_hint for tool in tools)


@pytest.mark.training
async def test_a_launch_from_a_folder_full_of_shadowing_packages_completes(tiny, tmp_path: Path) -> None:
    """Pins issue 9: run from a folder holding a `jobs/` package (Claude Code starts servers in the user's project),
    every launch failed with "No module named 'jobs.recipes'". No process of ours may import from the working folder."""
    project = tmp_path / "project"
    for name in ("jobs", "tools", "server", "prompts", "trl", "transformers", "trl_jobs_mcp"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(f"raise ImportError('the working folder\\'s {name} was imported')\n")
    params = StdioServerParameters(command=console_script(), args=[], cwd=str(project),
                                   env={"TRL_JOBS_HOME": str(tmp_path / "state"), "HF_HUB_OFFLINE": "1"})
    async with Client(params, mode="legacy") as client:
        _, launched = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(tiny["sft"]),
                                 max_steps=2, flavor="cpu-basic")
        job_id = launched["job_id"]

        async def finished() -> dict | None:
            _, got = await call(client, "inspect_job", job_id=job_id)
            return got["job"] if got["job"]["stage"] not in ("SCHEDULING", "RUNNING") else None

        job = await eventually(finished, timeout=240, what=f"job {job_id} to finish", interval=0.5)
        _, logs = await call(client, "fetch_logs", job_id=job_id, tail=40)
    assert job["stage"] == "COMPLETED", (job, logs["lines"])
    assert not any("working folder" in line for line in logs["lines"])


def test_ctrl_c_stops_a_server_started_by_hand(state_dir: Path) -> None:
    """Pins issue 25: started in a terminal, the server said "Ctrl-C quits." and then waited on stdin for Enter or
    Ctrl-D, because the SDK reads stdin in a thread that a KeyboardInterrupt cannot stop."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([console_script()], stdin=secondary, stdout=secondary, stderr=secondary,
                            env={**os.environ, "TRL_JOBS_HOME": str(state_dir)}, start_new_session=True)
    os.close(secondary)
    said = bytearray()
    try:
        # The note is printed once Ctrl-C is handled, so the signal cannot come before the handler.
        def noted() -> bool:
            said.extend(os.read(primary, 4096))
            return b"Ctrl-C quits." in said

        wait_until(noted, timeout=60, what=lambda: f"the terminal note; the server said {bytes(said)!r}", interval=0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
        status = proc.wait(timeout=10)  # a hang is the bug; the time it takes is not asserted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
    assert status == 130, status


def test_the_inspector_in_strict_mode_lists_the_tools_without_a_warning(state_dir: Path) -> None:
    """Pins issue 25: the official MCP Inspector's strict mode warned 8 times (type lists in timeout, idle_timeout,
    extra_args). It spawns the console script over stdio and checks every tool schema's portability."""
    done = npx(INSPECTOR, "--cli", "--strict", "--method", "tools/list", "-e", f"TRL_JOBS_HOME={state_dir}",
               console_script())
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.strip() == "", done.stderr[-3000:]
    assert json.loads(done.stdout)["tools"][0]["name"] == "launch_training"


async def test_the_printed_client_config_starts_this_server_without_path(state_dir: Path) -> None:
    """Issue 25: configs naming a bare `trl-jobs-mcp` failed in desktop clients that do not see the venv (`spawn
    trl-jobs-mcp ENOENT`). `trl-jobs-mcp config cursor` prints this install's absolute path; spawned as a client
    does, with no PATH, it serves."""
    printed = subprocess.run([console_script(), "config", "cursor"], capture_output=True, text=True, check=True)
    entry = json.loads(printed.stdout)["mcpServers"]["trl-jobs"]
    assert os.path.isabs(entry["command"]), entry
    params = StdioServerParameters(command=entry["command"], args=entry.get("args", []),
                                   env={"TRL_JOBS_HOME": str(state_dir), "PATH": ""})
    async with Client(params, mode="legacy") as client:
        assert "launch_training" in {t.name for t in (await client.list_tools()).tools}
    http = subprocess.run([console_script(), "config", "vscode", "--url", "http://127.0.0.1:8000/mcp", "--token",
                           "t0k3n"], capture_output=True, text=True, check=True)
    assert json.loads(http.stdout)["servers"]["trl-jobs"] == {
        "type": "http", "url": "http://127.0.0.1:8000/mcp", "headers": {"Authorization": "Bearer t0k3n"}}
