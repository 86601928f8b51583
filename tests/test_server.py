"""The real server in-process, through the SDK's client over memory streams (initialize handshake included).

Covers the tool list (pinned in tests/snapshots/tools.json; UPDATE_SNAPSHOTS=1 regenerates it), honest annotations,
read-only mode, the error path (bad input names the field and the fix, an unknown job suggests list_jobs, a crash
leaks nothing and the server keeps serving), dry runs, secret redaction, and that the server never imports torch,
transformers, datasets or trl.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer
from mcp_client import call, call_error, connect, local_client
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from trl_jobs_mcp.server.app import tool_modules
from trl_jobs_mcp.tools.base import SecretBook, ToolContext, ToolDef, as_mcp_tool

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"
SECRET = "hf_s3cr3tValueNobodyMaySee"


# --- the tool list ---


def tool_listing(tools: list[Any]) -> list[dict[str, Any]]:
    return [{"name": t.name, "title": t.title,
             "annotations": t.annotations.model_dump(mode="json", exclude_none=True),
             "input_schema": t.input_schema, "output_schema": t.output_schema} for t in tools]


async def test_tool_list_matches_snapshot(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        listing = tool_listing((await client.list_tools()).tools)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(listing, indent=2, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1"
    assert listing == json.loads(SNAPSHOT.read_text()), (
        "the tool list changed; if on purpose, regenerate: UPDATE_SNAPSHOTS=1 python3 -m pytest tests/test_server.py")


async def test_every_registered_module_is_listed_with_honest_annotations(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == [module.__name__.rpartition(".")[2] for module in tool_modules()]
    for name in ("list_jobs", "inspect_job", "fetch_logs"):
        assert tools[name].annotations.read_only_hint is True, name
    cancel = tools["cancel_job"].annotations
    assert cancel.destructive_hint is True and cancel.idempotent_hint is True and not cancel.read_only_hint
    launch = tools["launch_training"].annotations
    assert launch.read_only_hint is False and launch.idempotent_hint is False and launch.open_world_hint is True
    for tool in tools.values():
        assert tool.description and tool.title and tool.output_schema


async def test_input_fields_are_at_the_top_level_with_descriptions_and_bounds(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    launch = tools["launch_training"].input_schema
    for name in ("trainer", "model", "dataset", "flavor", "timeout", "env", "secrets", "labels", "dry_run",
                 "learning_rate", "max_steps", "per_device_train_batch_size", "packing", "eos_token"):
        assert name in launch["properties"], name
    assert set(launch["required"]) == {"model", "dataset"}
    assert launch["additionalProperties"] is False
    assert set(tools["fetch_logs"].input_schema["properties"]) == {"job_id", "tail", "since", "tidy"}
    assert set(tools["list_jobs"].input_schema["properties"]) == {"stage", "labels", "limit", "cursor"}
    for tool in tools.values():
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    limit = tools["list_jobs"].input_schema["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, 200)


# What a host puts before the model from tools/list, paid by every conversation before its first word (issue 11:
# 26.7 KB before, launch_training's input schema alone about 15 KB). Issue 20 lets experiments (sweeps, compare,
# continue, disk) take it to 18 KB, and no further.
TOOLS_LIST_BUDGET = 18_000


async def test_what_tools_list_puts_before_the_model_weighs_under_18_kb(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        tools = (await client.list_tools()).tools
    weight = sum(len(json.dumps({"name": t.name, "title": t.title, "description": t.description,
                                 "inputSchema": t.input_schema}, separators=(",", ":"))) for t in tools)
    assert weight < TOOLS_LIST_BUDGET, f"{weight} bytes"


async def test_the_compact_schemas_keep_every_field_its_type_and_its_bounds(state_dir: Path) -> None:
    """Lighter, not poorer: every Input field is listed with its JSON type(s), and no bound or enum is dropped."""
    from trl_jobs_mcp.server.app import load_tools

    async with local_client(state_dir) as client:
        listed = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        outputs = {t.name: t.output_schema for t in (await client.list_tools()).tools}
    for tool in load_tools():
        full = tool.input.model_json_schema()
        shown = listed[tool.name]["properties"]
        assert set(shown) == set(full["properties"]), tool.name
        for name, prop in full["properties"].items():
            text = json.dumps(shown[name])
            assert '"type"' in text or "$ref" in text, f"{tool.name}.{name} lost its type"
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength", "minLength",
                        "maxItems", "minItems", "maxProperties", "enum", "pattern"):
                if key in json.dumps(prop):
                    assert key in text, f"{tool.name}.{name} lost {key}"
        # Output schemas stay as generated: complete, titles and all.
        assert outputs[tool.name]["properties"].keys() == tool.output.model_json_schema()["properties"].keys()
    assert listed["launch_training"]["properties"]["learning_rate"]["type"] == "number"
    assert listed["launch_training"]["properties"]["timeout"]["anyOf"] == [{"type": "string"}, {"type": "integer"}]


async def test_every_schema_property_has_one_type(state_dir: Path) -> None:
    """Pins issue 25: `"type": ["string", "integer"]` (timeout, idle_timeout, extra_args' values) drew warnings in
    the Inspector's strict mode, and clients that map tools to a one-type-per-property dialect refuse it."""
    async with local_client(state_dir) as client:
        listed = [t.model_dump(by_alias=True, mode="json", exclude_none=True)
                  for t in (await client.list_tools()).tools]

    def type_lists(node: object, where: str) -> list[str]:
        if isinstance(node, list):
            return [found for i, item in enumerate(node) for found in type_lists(item, f"{where}[{i}]")]
        if not isinstance(node, dict):
            return []
        here = [where] if isinstance(node.get("type"), list) else []
        return here + [found for key, value in node.items() for found in type_lists(value, f"{where}/{key}")]

    assert type_lists(listed, "tools") == []
    extra_values = listed[0]["inputSchema"]["properties"]["extra_args"]["anyOf"][0]["additionalProperties"]
    assert {"type": "number"} in extra_values["anyOf"]  # and not integer too: a number holds the integers


async def test_read_only_mode_registers_only_tools_that_change_nothing(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        every = (await client.list_tools()).tools
    async with local_client(state_dir, read_only=True) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {t.name for t in every if t.annotations.read_only_hint}
        assert {"list_jobs", "inspect_job", "fetch_logs"} <= names
        assert not names & {"launch_training", "cancel_job"}
        assert "Unknown tool" in await call_error(client, "launch_training", model="m", dataset="d")


# --- errors ---


@pytest.mark.parametrize("tool", ["inspect_job", "fetch_logs", "cancel_job"])
async def test_unknown_job_id_says_so_and_suggests_list_jobs(state_dir: Path, tool: str) -> None:
    async with local_client(state_dir) as client:
        message = await call_error(client, tool, job_id="0123456789abcdef")
    assert "0123456789abcdef" in message and "list_jobs" in message


@pytest.mark.parametrize(("tool", "arguments", "expected"), [
    ("list_jobs", {"limit": 0}, ["limit", "greater than or equal to 1"]),
    ("list_jobs", {"limitt": 5}, ["limitt", "did you mean limit"]),
    ("list_jobs", {"stage": "FINISHED"}, ["stage", "'COMPLETED'"]),
    ("fetch_logs", {"job_id": "x", "tail": 0}, ["tail", "greater than or equal to 1"]),
    ("fetch_logs", {"job_id": "x", "since": -5}, ["since", "greater than or equal to 0"]),
    ("inspect_job", {}, ["job_id", "required"]),
    ("launch_training", {"dataset": "trl-lib/Capybara"}, ["model", "required"]),
    ("launch_training", {"model": "Qwen/Qwen2.5-0.5B", "dataset": "trl-lib/Capybara", "lerning_rate": 1e-4},
     ["lerning_rate", "did you mean learning_rate"]),
    ("launch_training", {"model": "Qwen/Qwen2.5-0.5B", "dataset": "trl-lib/Capybara", "max_steps": 0},
     ["max_steps", "greater than or equal to 1"]),
    ("launch_training", {"model": "Qwen/Qwen2.5-0.5B", "dataset": "trl-lib/Capybara", "timeout": "soon"},
     ["timeout", "30m"]),
    ("launch_training", {"model": "Qwen/Qwen2.5-0.5B", "dataset": "trl-lib/Capybara", "flavor": "cpu-basicc"},
     ["flavor", "cpu-basic"]),
    ("launch_training", {"model": "Qwen/Qwen2.5-0.5B", "dataset": "trl-lib/Capybara", "trainer": "stf"},
     ["trainer", "sft"]),
    ("launch_training", {"model": "/no/such/model/folder", "dataset": "trl-lib/Capybara"},
     ["model", "/no/such/model/folder"]),
])
async def test_bad_input_names_the_field_and_the_fix_and_creates_nothing(
        state_dir: Path, tool: str, arguments: dict[str, Any], expected: list[str]) -> None:
    async with local_client(state_dir) as client:
        message = await call_error(client, tool, **arguments)
        for fragment in expected:
            assert fragment.lower() in message.lower(), message
        _, listing = await call(client, "list_jobs")
    assert listing["jobs"] == []


async def test_a_crash_in_a_tool_is_logged_not_leaked_and_the_server_keeps_serving(
        caplog: pytest.LogCaptureFixture) -> None:
    class Empty(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class Out(BaseModel):
        ok: bool

    async def explode(args: Empty, ctx: ToolContext) -> Out:
        raise RuntimeError("internal detail /home/alice/.cache path")

    async def fine(args: Empty, ctx: ToolContext) -> Out:
        return Out(ok=True)

    secrets = SecretBook()

    async def context(request: Any) -> ToolContext:
        return ToolContext(backend=None, secrets=secrets)  # type: ignore[arg-type]

    def tool(name: str, run: Any) -> ToolDef[Any, Any]:
        return ToolDef(name=name, title=name, description=name, input=Empty, output=Out,
                       annotations=ToolAnnotations(read_only_hint=True), run=run, render=lambda out: "ok")

    server = MCPServer("crash-test", tools=[as_mcp_tool(tool("explode", explode), context, secrets),
                                            as_mcp_tool(tool("fine", fine), context, secrets)])
    with caplog.at_level(logging.ERROR, logger="trl_jobs_mcp.tools"):
        async with connect(server) as client:
            message = await call_error(client, "explode")
            assert "internal detail" not in message and "alice" not in message
            assert "explode failed inside the server (RuntimeError)" in message
            text, data = await call(client, "fine")
    assert data == {"ok": True}
    assert any("internal detail" in repr(record.exc_info) for record in caplog.records)


async def test_json_text_for_objects_is_accepted_as_some_clients_send_it(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        text, data = await call(client, "list_jobs", labels='{"trainer": "sft"}', stage='["RUNNING"]')
    assert data["jobs"] == [] and data["filtered"] is True
    assert "No jobs match" in text


# --- dry runs and secrets ---


async def test_dry_run_shows_the_command_env_names_price_and_ceiling_and_creates_nothing(
        state_dir: Path, tiny: dict[str, Path]) -> None:
    async with local_client(state_dir) as client:
        text, out = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(tiny["sft"]),
                               max_steps=3, flavor="cpu-basic", timeout="2h", env={"WANDB_MODE": "offline"},
                               secrets={"MY_API_KEY": SECRET}, labels={"experiment": "dry"}, dry_run=True)
        _, listing = await call(client, "list_jobs")
    assert listing["jobs"] == []
    assert out["dry_run"] is True and out["job_id"] is None
    assert out["flavor"] == "cpu-basic" and out["price_per_hour"] == pytest.approx(0.01)
    assert out["timeout_seconds"] == 7200 and out["cost_ceiling_usd"] == pytest.approx(0.02)
    assert "--max_steps=3" in out["command"] and f"--model_name_or_path={tiny['model']}" in out["command"]
    assert "--bf16=false" in out["command"]  # the CPU default that keeps TRL from refusing to start
    assert out["env_names"] == ["PYTHONUNBUFFERED", "WANDB_MODE"] and out["secret_names"] == ["MY_API_KEY"]
    assert out["labels"]["experiment"] == "dry" and out["labels"]["trainer"] == "sft"
    assert "$0.02" in text and "2h" in text and "MY_API_KEY" in text and "dry_run=false" in text
    assert SECRET not in text and SECRET not in json.dumps(out)


async def test_a_single_local_jsonl_file_is_accepted_as_the_dataset(state_dir: Path, tiny: dict[str, Path]) -> None:
    data_file = tiny["sft"] / "train.jsonl"
    assert data_file.is_file()
    async with local_client(state_dir) as client:
        text, out = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(data_file),
                               dry_run=True)
    assert out["dataset"] == str(data_file) and any(str(data_file) in arg for arg in out["command"])


async def test_a_known_secret_is_scrubbed_from_every_string_returned(state_dir: Path, tiny: dict[str, Path]) -> None:
    """The secret shows up where a tool would echo it (a label value); the redaction net catches it. The call's own
    secrets scrub that call; the server's token scrubs every call (a not-found error that echoes the id)."""
    async with local_client(state_dir, hf_token="hf_serverTokenValue42") as client:
        text, out = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(tiny["sft"]),
                               secrets={"OTHER": SECRET}, labels={"note": f"{SECRET}+hf_serverTokenValue42"},
                               dry_run=True)
        message = await call_error(client, "inspect_job", job_id="hf_serverTokenValue42")
    blob = text + json.dumps(out) + message
    assert SECRET not in blob and "hf_serverTokenValue42" not in blob
    assert out["labels"]["note"] == "<redacted>+<redacted>"


async def test_gpu_flavor_on_a_machine_without_one_is_refused_before_a_job_exists(
        state_dir: Path, tiny: dict[str, Path]) -> None:
    from trl_jobs_mcp.jobs.core.flavors import local_gpu_count

    if local_gpu_count() > 0:
        pytest.skip("this machine has a GPU")
    async with local_client(state_dir) as client:
        message = await call_error(client, "launch_training", model=str(tiny["model"]), dataset=str(tiny["sft"]),
                                   flavor="a100-large")
        _, listing = await call(client, "list_jobs")
    assert "flavor" in message and "cpu-basic" in message
    assert listing["jobs"] == []


# --- start-up weight ---

HEAVY = ("torch", "transformers", "datasets", "trl")

_CHILD = textwrap.dedent("""
    import json, sys, anyio
    from mcp import Client
    from trl_jobs_mcp.server.app import build_server

    async def main():
        async with Client(build_server(), mode="legacy") as client:
            await client.list_tools()
            after_list = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
            await client.call_tool("list_jobs", {})
            result = await client.call_tool("launch_training", {"model": MODEL, "dataset": DATA, "dry_run": True})
            assert not result.is_error, result
        after_calls = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
        print(json.dumps({"after_list": after_list, "after_calls": after_calls}))

    anyio.run(main)
""")


def test_the_server_process_never_imports_torch_transformers_datasets_or_trl(
        state_dir: Path, tiny: dict[str, Path]) -> None:
    code = f"HEAVY = {HEAVY!r}\nMODEL = {str(tiny['model'])!r}\nDATA = {str(tiny['sft'])!r}\n" + _CHILD
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TRL_JOBS_HOME": str(state_dir)})
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"after_list": [], "after_calls": []}


async def test_the_first_tools_list_of_a_later_server_is_the_cached_copy_of_the_built_one(state_dir: Path) -> None:
    """Issue 25: building the list costs about 120 ms at start-up, so a server keeps the last one it built (named
    after a digest of our sources and the read-only setting) and the next one answers its first tools/list from it."""
    async with local_client(state_dir) as client:
        built = (await client.list_tools()).tools
    [cached] = (state_dir / "cache").glob("tools-*.json")
    async with local_client(state_dir) as client:
        again = (await client.list_tools()).tools
        assert not (await client.call_tool("list_jobs", {})).is_error  # calls use the built tools
    assert [t.model_dump() for t in again] == [t.model_dump() for t in built]
    assert json.loads(cached.read_text())[0]["name"] == "launch_training"
    async with local_client(state_dir, read_only=True) as client:
        read_only = {t.name for t in (await client.list_tools()).tools}
    assert "launch_training" not in read_only  # another setting, another file
    assert len(list((state_dir / "cache").glob("tools-*.json"))) == 1
