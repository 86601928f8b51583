"""The installed console script `trl-jobs-mcp`, spawned over stdio with the SDK's real stdio client."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_client import call, console_script
from polling import eventually

from trl_jobs_mcp.server.app import TOOL_MODULES

pytestmark = pytest.mark.anyio


async def test_the_console_script_serves_stdio_by_default(state_dir: Path) -> None:
    # The stdio client passes only a few variables on; the state directory must be given explicitly.
    params = StdioServerParameters(command=console_script(), args=[], env={"TRL_JOBS_HOME": str(state_dir)})
    async with Client(params, mode="legacy") as client:
        assert client.server_info is not None and client.server_info.name == "trl-jobs"
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert names == [module.__name__.rpartition(".")[2] for module in TOOL_MODULES]
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
