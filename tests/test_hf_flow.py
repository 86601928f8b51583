"""The whole flow on Hugging Face Jobs through the MCP protocol: the installed console script, started over stdio
with `--backend hf`, talking to the fake Jobs API with the real huggingface_hub client (HF_ENDPOINT, HF_TOKEN)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_client import call, console_script

from trl_jobs_mcp.jobs.backends.hf.guard import unguarded

pytestmark = pytest.mark.anyio

TRL_SFT = "https://raw.githubusercontent.com/huggingface/trl/v1.16.0/trl/scripts/sft.py"


def server_params(fake: FakeHFJobs, home: Path, *flags: str) -> StdioServerParameters:
    command, args = console_script(), []
    env = {**os.environ, "HF_ENDPOINT": fake.url, "HF_TOKEN": fake.token, "TRL_JOBS_HOME": str(home),
           "PYTHONUNBUFFERED": "1"}
    env.pop("TRL_JOBS_BACKEND", None)
    return StdioServerParameters(command=command, args=[*args, "serve", *flags], env=env)


async def test_launch_list_inspect_logs_cancel_on_hf_over_stdio(fake_hf: FakeHFJobs, tmp_path: Path) -> None:
    params = server_params(fake_hf, tmp_path / "state", "--backend", "hf", "--namespace", "acme")
    async with Client(params) as client:
        text, launched = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara",
                                    max_steps=20, flavor="a10g-large", timeout="1h")
        job_id = launched["job_id"]
        assert launched["backend"] == "hf" and launched["stage"] == "SCHEDULING"
        # Without push_to_hub the model is lost with the container: the launch says so.
        assert any("disappears with it" in note for note in launched["notes"]) and "push_to_hub" in text

        [posted] = fake_hf.posted_specs
        job = fake_hf.jobs[job_id]
        assert job.namespace == "acme"
        assert posted["flavor"] == "a10g-large" and posted["timeoutSeconds"] == 3600
        command = unguarded(posted["command"])  # the server's default idle guard wraps it
        assert posted["command"][:2] == ["sh", "-c"] and command[:4] == ["uv", "run", "--with", "trl==1.16.0"]
        assert TRL_SFT in command and "--model_name_or_path=Qwen/Qwen2-0.5B" in command
        assert posted["labels"]["trainer"] == "sft" and posted["labels"]["model"] == "Qwen-Qwen2-0-5B"

        _, listing = await call(client, "list_jobs", labels={"model": "Qwen/Qwen2-0.5B"})
        assert [j["id"] for j in listing["jobs"]] == [job_id]

        fake_hf.set_stage(job_id, "RUNNING")
        fake_hf.append_log(job_id, "{'loss': '2.31', 'learning_rate': '2e-05', 'epoch': '0.1'}")
        text, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["job"]["stage"] == "RUNNING" and "RUNNING" in text
        assert inspected["job"]["url"].endswith(f"/jobs/acme/{job_id}")

        text, logs = await call(client, "fetch_logs", job_id=job_id, since=0)
        assert logs["lines"] == ["{'loss': '2.31', 'learning_rate': '2e-05', 'epoch': '0.1'}"]
        assert logs["next_since"] == 1 and logs["finished"] is False and "still running" in text

        text, canceled = await call(client, "cancel_job", job_id=job_id)
        assert canceled["stage"] == "CANCELED" and canceled["already_finished"] is False
        _, again = await call(client, "cancel_job", job_id=job_id)
        assert again["already_finished"] is True

        _, logs = await call(client, "fetch_logs", job_id=job_id, since=1)
        assert logs["lines"] == [] and logs["finished"] is True

        _, running = await call(client, "list_jobs", stage="RUNNING")
        assert running["jobs"] == []
    assert fake_hf.launches() == 1
    assert fake_hf.token not in json.dumps([launched, inspected, logs, canceled])
