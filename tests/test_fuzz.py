"""The adversarial campaign of issue 16 as a standing suite: every tool fuzzed through the protocol from the input
schema the server itself publishes (hypothesis-jsonschema), with a fixed seed and a bounded budget.

For every call: no crash (no "failed inside the server"), every error names one of the tool's fields, no file
appears outside the state directory, and a dry run creates no job. run_job also launches for real (the command
pinned to a harmless interpreter call, every other field fuzzed: env, secrets, labels, flavor, timeout), so the
hostile values reach a real supervisor. launch_training is fuzzed as dry runs only: a real one would import the
training stack for every example.

EXAMPLES_PER_TOOL (150: 3,000 calls, about 30 s here) keeps the file under a minute; raise it
(FUZZ_EXAMPLES=500) for a longer campaign.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from mcp_client import local_client, text_of

from trl_jobs_mcp.jobs.core.redact import MIN_SECRET_LENGTH
from trl_jobs_mcp.server.app import tool_modules

PY = sys.executable
EXAMPLES_PER_TOOL = int(os.environ.get("FUZZ_EXAMPLES", "150"))
TOOLS = [module.__name__.rpartition(".")[2] for module in tool_modules()]
GENERIC_FAILURE = "failed inside the server"


class Campaign:
    """One server (local backend) for the whole file, called from hypothesis' synchronous tests through a portal."""

    def __init__(self, portal: BlockingPortal, client: Any, home: Path, outside: Path) -> None:
        self.portal, self.client, self.home, self.outside = portal, client, home, outside
        self.schemas = {tool.name: tool.input_schema for tool in portal.call(client.list_tools).tools}
        self.calls = 0

    def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        if isinstance(arguments.get("secrets"), dict):
            # A call's secret value is scrubbed wherever it occurs in that call's answer, a field's name in its
            # error included (a secret "ethod" hides "method"): by design, so a generated value inside a field
            # name is left out, or the "names a field" check below would fail. (It no longer reaches later calls:
            # test_fuzzed_secrets_never_change_another_calls_answer.)
            fields = {name for schema in self.schemas.values() for name in schema.get("properties", {})}
            arguments = {**arguments, "secrets": {
                key: value for key, value in arguments["secrets"].items()
                if not (isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH
                        and any(value in name for name in fields | {"job_id", "not_a_field"}))}}
        result = self.portal.call(self.client.call_tool, tool, arguments)
        self.calls += 1
        return bool(result.is_error), text_of(result)

    def job_folders(self) -> set[str]:
        jobs = self.home / "jobs"
        return {p.name for p in jobs.iterdir()} if jobs.is_dir() else set()


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    root = tmp_path_factory.mktemp("fuzz")
    home, outside = root / "home", root / "outside"
    outside.mkdir()
    # Relative paths a fuzzed call might write resolve in `outside`, which must stay empty; PATH holds nothing, so
    # no fuzzed program name can resolve to a real program.
    empty_path = root / "empty-path"
    empty_path.mkdir()
    saved = os.getcwd(), os.environ.get("PATH", "")
    os.chdir(outside)
    os.environ["PATH"] = str(empty_path)
    try:
        with start_blocking_portal() as portal:
            client = portal.wrap_async_context_manager(local_client(home, local_slots=4))
            with client as connected:
                yield Campaign(portal, connected, home, outside)
                # Stop what the real launches left queued or running before the server goes.
                listing = portal.call(connected.call_tool, "list_jobs", {"stage": ["SCHEDULING", "RUNNING"],
                                                                           "limit": 200})
                for job in (listing.structured_content or {}).get("jobs", []):
                    portal.call(connected.call_tool, "cancel_job", {"job_id": job["id"]})
    finally:
        os.chdir(saved[0])
        os.environ["PATH"] = saved[1]
    assert sorted(p.name for p in root.iterdir()) == ["empty-path", "home", "outside"]


def _names_a_field(text: str, fields: set[str]) -> bool:
    if "job with id" in text:  # JobNotFoundError: about job_id, and says to call list_jobs
        return "job_id" in fields
    return any(name in text for name in fields)


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_survives_schema_driven_fuzzing(campaign: Campaign, tool: str) -> None:
    schema = campaign.schemas[tool]
    fields = set(schema.get("properties", {}))
    arguments_strategy = from_schema(schema)

    @seed(1616)
    @settings(max_examples=EXAMPLES_PER_TOOL, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(arguments=arguments_strategy, launch=st.booleans())
    def fuzz(arguments: dict[str, Any], launch: bool) -> None:
        arguments = dict(arguments)
        if "dry_run" in fields:
            arguments["dry_run"] = not (launch and tool == "run_job")
            if not arguments["dry_run"]:
                arguments["command"] = [PY, "-c", "pass"]
                for key in ("script", "script_args", "dependencies", "python"):
                    arguments.pop(key, None)
        if tool == "wait_for_job":
            arguments["timeout"] = min(int(arguments.get("timeout", 1)), 1)  # never a real wait on a fuzzed id
        before = campaign.job_folders()
        is_error, text = campaign.call(tool, arguments)
        assert GENERIC_FAILURE not in text, f"{tool}({arguments!r}) crashed: {text}"
        if is_error:
            assert _names_a_field(text, fields), f"{tool}({arguments!r}) error names no field: {text}"
        if arguments.get("dry_run") is True:
            assert campaign.job_folders() == before, f"dry run {tool}({arguments!r}) created a job"
        assert not any(campaign.outside.iterdir()), f"{tool}({arguments!r}) wrote outside the home"

    fuzz()


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_refuses_wrongly_typed_arguments_by_name(campaign: Campaign, tool: str) -> None:
    """Values of every JSON type in every field, and unknown fields: the type confusion half of the campaign."""
    fields = sorted(campaign.schemas[tool].get("properties", {}))
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6)
    strategy = st.dictionaries(st.sampled_from(fields + ["not_a_field"]) if fields else st.just("not_a_field"),
                               json_values, max_size=4)

    @seed(1616)
    @settings(max_examples=EXAMPLES_PER_TOOL, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(arguments=strategy)
    def fuzz(arguments: dict[str, Any]) -> None:
        if arguments.get("dry_run") is not True and "dry_run" in fields:
            arguments = {**arguments, "dry_run": True}
        if tool == "wait_for_job" and "timeout" in arguments:
            arguments = {**arguments, "timeout": 1}
        before = campaign.job_folders()
        is_error, text = campaign.call(tool, arguments)
        assert GENERIC_FAILURE not in text, f"{tool}({arguments!r}) crashed: {text}"
        if is_error:
            assert _names_a_field(text, set(fields) | {"not_a_field"}), f"{tool}({arguments!r}): {text}"
        assert campaign.job_folders() == before
        assert not any(campaign.outside.iterdir())

    fuzz()


def test_fuzzed_secrets_never_change_another_calls_answer(campaign: Campaign) -> None:
    """Bug (issue 23): a call's `secrets` joined one server-wide redaction list, whether the call was refused, its
    tool took no secrets, or it ran: every later answer of every client was rewritten by them. Secrets drawn from
    the words of a reference answer (the hardware list: names, numbers, field names), sent with every tool, leave
    that answer as it was."""
    reference = campaign.portal.call(campaign.client.call_tool, "list_hardware", {})
    words = sorted({w for w in text_of(reference).replace(",", " ").split() if len(w) >= MIN_SECRET_LENGTH}
                   | set(campaign.schemas["list_hardware"].get("properties", {})) | {"flavors", "runnable"})
    values = st.sampled_from(words) | st.text(min_size=MIN_SECRET_LENGTH, max_size=12)

    @seed(2323)
    @settings(max_examples=max(30, EXAMPLES_PER_TOOL // 3), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(tool=st.sampled_from(TOOLS), secrets=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True),
                                                                values, min_size=1, max_size=8))
    def fuzz(tool: str, secrets: dict[str, str]) -> None:
        arguments: dict[str, Any] = {"secrets": secrets, "job_id": "0123456789abcdef"}
        if tool in ("run_job", "launch_training", "rerun_job"):
            arguments = {"secrets": secrets, "dry_run": True, "command": "not a list"}  # refused: wrong type
        result = campaign.portal.call(campaign.client.call_tool, tool, arguments)
        campaign.calls += 1
        after = campaign.portal.call(campaign.client.call_tool, "list_hardware", {})
        assert result.is_error
        assert text_of(after) == text_of(reference) and after.structured_content == reference.structured_content

    fuzz()


def test_the_campaign_made_its_calls_and_real_launches(campaign: Campaign) -> None:
    """The budget was spent (a strategy that generated nothing would pass every assertion above vacuously)."""
    assert campaign.calls >= len(TOOLS) * EXAMPLES_PER_TOOL
    assert campaign.job_folders(), "no fuzzed run_job reached a real launch"
