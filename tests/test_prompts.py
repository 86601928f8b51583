"""The prompts through the protocol, and that they only send the assistant to tools and arguments that exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from mcp_client import local_client

from trl_jobs_mcp.prompts import PROMPT_MODULES
from trl_jobs_mcp.prompts.choose_hardware import choose_hardware
from trl_jobs_mcp.prompts.diagnose_job import diagnose_job
from trl_jobs_mcp.prompts.plan_fine_tune import plan_fine_tune
from trl_jobs_mcp.server.app import load_tools

pytestmark = pytest.mark.anyio

TOOLS = {tool.name: tool for tool in load_tools()}
# `name=value` after a tool name in the prompts' text, e.g. "call wait_for_job ... until="loss_plateau"".
_ARGUMENT = re.compile(r"\b([a-z_]+)=")


async def test_prompts_are_listed_with_their_arguments(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert list(prompts) == [name.rpartition(".")[2] for name in PROMPT_MODULES]
    arguments = {name: {a.name: a.required for a in p.arguments or []} for name, p in prompts.items()}
    assert arguments == {
        "plan_fine_tune": {"goal": True, "model": False, "dataset": False, "budget_usd": False},
        "diagnose_job": {"job_id": True},
        "choose_hardware": {"model": True, "method": False, "max_length": False},
    }
    for prompt in prompts.values():
        assert prompt.description and prompt.title
        assert all(a.description for a in prompt.arguments or [])


async def test_a_prompt_renders_its_arguments_into_one_user_message(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        result = await client.get_prompt("diagnose_job", {"job_id": "3f2a9c"})
        with pytest.raises(Exception, match="job_id"):
            await client.get_prompt("diagnose_job", {})
    assert len(result.messages) == 1 and result.messages[0].role == "user"
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "inspect_job with job_id=3f2a9c" in text and "fetch_logs with job_id=3f2a9c tail=100" in text


def _texts() -> dict[str, str]:
    return {
        "plan (empty)": plan_fine_tune(goal="summarise news"),
        "plan (full)": plan_fine_tune(goal="summarise news", model="Qwen/Qwen2.5-0.5B", dataset="org/news",
                                      budget_usd="5"),
        "diagnose": diagnose_job(job_id="abc"),
        "choose": choose_hardware(model="Qwen/Qwen2.5-7B", method="qlora", max_length="2048"),
    }


@pytest.mark.parametrize("name", list(_texts()))
def test_prompts_name_only_real_tools_and_arguments(name: str) -> None:
    """A prompt that sends the assistant to a renamed tool or argument fails here, not in a conversation."""
    text = _texts()[name]
    mentioned = {tool for tool in re.findall(r"\b[a-z]+_[a-z_]+\b", text) if tool in TOOLS}
    assert mentioned, text
    known_arguments: set[str] = set()
    for tool in mentioned:
        known_arguments |= set(TOOLS[tool].input.model_fields)
    # extra_args carries TRL arguments the request does not model (load_in_4bit).
    inside_extra = {"load_in_4bit"}
    for argument in _ARGUMENT.findall(text):
        assert argument in known_arguments | inside_extra, f"{argument}= is not an argument of {sorted(mentioned)}"


def test_plan_walks_the_tools_in_order() -> None:
    text = plan_fine_tune(goal="x", budget_usd="3")
    order = [text.index(tool) for tool in ("recommend_hardware", "launch_training", "wait_for_job", "job_metrics")]
    assert order == sorted(order)
    assert "dry_run=true" in text and "$3" in text


def test_choose_hardware_keeps_the_callers_values() -> None:
    text: Any = choose_hardware(model="7B", method="full", max_length="4096")
    assert "model=7B method=full max_length=4096" in text
