"""run_job through the real server and the SDK's client: a command or a uv script, on the local backend (real
child processes) and on the Hugging Face backend (the real huggingface_hub client against the fake Jobs API)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_hf_jobs import FakeHFJobs
from huggingface_hub._jobs_api import DEFAULT_UV_IMAGE
from mcp_client import call, call_error, hf_client, local_client
from polling import eventually

from trl_jobs_mcp.jobs.backends.hf.guard import unguarded

pytestmark = pytest.mark.anyio

SECRET = "sk-run-job-secret-0042"
SCRIPT = "https://example.org/scripts/eval.py"


# --- Hugging Face ---


async def test_uv_script_on_hf_sends_what_hf_jobs_uv_run_sends(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        text, out = await call(client, "run_job", script=SCRIPT, script_args=["--limit", "10"],
                               dependencies=["lighteval"], python="3.11", env={"PYTHONUNBUFFERED": "1"},
                               secrets={"HF_TOKEN": "$HF_TOKEN", "API_KEY": SECRET}, flavor="t4-small",
                               timeout="1h", labels={"experiment": "eval"})
    [posted] = fake_hf.posted_specs
    assert posted["dockerImage"] == DEFAULT_UV_IMAGE
    # The server's default idle guard (30m) wraps the command the Hub runs; inside it is `hf jobs uv run`'s.
    assert posted["command"][:2] == ["sh", "-c"] and out["idle_timeout"] == "30m"
    assert unguarded(posted["command"]) == ["uv", "run", "--with", "lighteval", "--python", "3.11", SCRIPT, "--limit",
                                            "10"]
    assert posted["secrets"] == {"HF_TOKEN": fake_hf.token, "API_KEY": SECRET}
    assert posted["flavor"] == "t4-small" and posted["timeoutSeconds"] == 3600
    assert posted["labels"]["experiment"] == "eval"
    assert out["job_id"] in fake_hf.jobs and out["stage"] == "SCHEDULING" and out["kind"] == "uv script"
    assert out["url"].endswith(f"/jobs/alice/{out['job_id']}")
    assert out["secret_names"] == ["API_KEY", "HF_TOKEN"] and out["env_names"] == ["PYTHONUNBUFFERED"]
    assert "disappear with it" in text and f"job_id={out['job_id']}" in text
    blob = text + json.dumps(out)
    assert SECRET not in blob and fake_hf.token not in blob


async def test_command_in_an_image_on_hf(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        _, out = await call(client, "run_job", command=["nvidia-smi"], image="nvidia/cuda:12.4.0-base-ubuntu22.04",
                            flavor="a10g-small")
    [posted] = fake_hf.posted_specs
    assert posted["dockerImage"] == "nvidia/cuda:12.4.0-base-ubuntu22.04"
    assert unguarded(posted["command"]) == ["nvidia-smi"]
    assert out["kind"] == "command" and out["command"] == ["nvidia-smi"]


async def test_dry_run_creates_nothing_and_its_line_parses_with_the_hf_cli(fake_hf: FakeHFJobs) -> None:
    from huggingface_hub.cli.jobs import uv_app

    async with hf_client(fake_hf) as client:
        text, out = await call(client, "run_job", script=SCRIPT, script_args=["--timeout", "3"],
                               secrets={"API_KEY": SECRET}, flavor="a100-large", timeout="2h", dry_run=True)
    assert fake_hf.posted_specs == [] and out["job_id"] is None
    assert out["cost_ceiling_usd"] == pytest.approx(5.0) and "$5.00" in text and "dry_run=false" in text
    argv = shlex.split(out["hf_command"])
    assert argv[:4] == ["hf", "jobs", "uv", "run"] and SECRET not in out["hf_command"]
    params = uv_app.get_command(None, "run").make_context("run", argv[4:]).params
    assert params["script"] == SCRIPT and list(params["script_args"]) == ["--timeout", "3"]
    assert params["flavor"] == "a100-large" and params["timeout"] == "2h" and params["secrets"] == ["API_KEY"]


async def test_cost_limit_refuses_before_anything_is_sent(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf, max_cost_usd=1.0) as client:
        message = await call_error(client, "run_job", command=["train"], flavor="a100-large", timeout="2h")
    assert "timeout" in message and "$1.00" in message and "list_hardware" in message
    assert fake_hf.posted_specs == []


@pytest.mark.parametrize(("arguments", "fragments"), [
    ({}, ["command", "script"]),
    ({"command": ["x"], "script": SCRIPT}, ["command", "not both"]),
    ({"script": SCRIPT, "image": "python:3.12"}, ["image", "uv script brings its own image"]),
    ({"command": ["x"], "flavor": "a10g-larg"}, ["flavor", "a10g-large"]),
    ({"command": ["x"], "timeout": "soon"}, ["timeout", "30m"]),
    ({"command": ["x"], "env": {"1BAD": "v"}}, ["env", "1BAD"]),
])
async def test_bad_input_names_the_field_and_creates_nothing(fake_hf: FakeHFJobs, arguments: dict[str, Any],
                                                             fragments: list[str]) -> None:
    async with hf_client(fake_hf) as client:
        message = await call_error(client, "run_job", **arguments)
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    assert fake_hf.posted_specs == []


# --- local ---


async def test_command_runs_directly_on_the_local_backend(state_dir: Path) -> None:
    code = "import os; print('hello from run_job', os.environ['GREETING'], os.environ['API_KEY'])"
    async with local_client(state_dir) as client:
        text, out = await call(client, "run_job", command=[sys.executable, "-u", "-c", code],
                               env={"GREETING": "hi"}, secrets={"API_KEY": SECRET}, labels={"kind": "smoke"})
        job_id = out["job_id"]
        assert out["backend"] == "local" and "no charge" in text

        async def finished() -> dict[str, Any] | None:
            _, inspected = await call(client, "inspect_job", job_id=job_id)
            return inspected if inspected["finished"] else None

        inspected = await eventually(finished, timeout=60, interval=0.1, what=f"job {job_id} to finish")
        assert inspected["job"]["stage"] == "COMPLETED", inspected
        _, logs = await call(client, "fetch_logs", job_id=job_id)
        _, listing = await call(client, "list_jobs", labels={"kind": "smoke"})
    assert logs["lines"] == ["hello from run_job hi <redacted>"]
    assert [job["id"] for job in listing["jobs"]] == [job_id]


async def test_an_image_on_the_local_backend_is_refused_with_what_to_do(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        message = await call_error(client, "run_job", command=["echo", "hi"], image="python:3.12")
        _, listing = await call(client, "list_jobs")
    assert "image" in message and "--backend hf" in message
    assert listing["jobs"] == []

