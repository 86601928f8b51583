"""The job card (MCP Apps) through the protocol: who sees it, what it is, and that nothing else changed.

A client that declares `io.modelcontextprotocol/ui` sees `_meta.ui.resourceUri` on launch_training, inspect_job and
wait_for_job, and reads the card as `text/html;profile=mcp-app`; a client that does not sees the tool list it always
saw (no `_meta` at all, the pinned snapshot). The card in a real browser is tests/test_job_card_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio

import pytest
from apps_host import apps_client
from mcp import Client, StdioServerParameters
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp_client import call, connect, console_script, local_client, text_of
from trl_jobs_mcp.server.app import build_server
from trl_jobs_mcp.server.job_card import CARD_TOOLS, CARD_URI, card_html
from trl_jobs_mcp.server.settings import Settings

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"


async def test_an_apps_client_sees_the_card_on_the_three_job_tools_and_reads_it(state_dir: Path) -> None:
    async with apps_client(state_dir) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        uris = {name: (tool.meta or {}).get("ui", {}).get("resourceUri") for name, tool in tools.items()}
        read = await client.read_resource(CARD_URI)
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}

    assert {name for name, uri in uris.items() if uri} == CARD_TOOLS == {"launch_training", "inspect_job",
                                                                         "wait_for_job"}
    assert {uris[name] for name in CARD_TOOLS} == {CARD_URI}
    [content] = read.contents
    assert content.mime_type == APP_MIME_TYPE == "text/html;profile=mcp-app"
    assert content.text == card_html() and content.text.lstrip().lower().startswith("<!doctype html>")
    # An empty CSP: hosts apply their restrictive default (no connect-src, no outside scripts or fonts).
    assert content.meta == {"ui": {"csp": {}, "prefersBorder": True}}
    assert listed[CARD_URI].mime_type == APP_MIME_TYPE


async def test_a_client_without_apps_sees_todays_tools_and_answers(state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        tools = (await client.list_tools()).tools
        text, out = await call(client, "list_jobs")
    assert all(tool.meta is None for tool in tools)
    listing = [{"name": t.name, "title": t.title, "annotations": t.annotations.model_dump(mode="json", exclude_none=True),
                "input_schema": t.input_schema, "output_schema": t.output_schema} for t in tools]
    assert listing == json.loads(SNAPSHOT.read_text())
    assert out["jobs"] == [] and text


async def test_declaring_the_extension_without_the_html_profile_is_not_apps(state_dir: Path) -> None:
    """The spec's mimeTypes setting is required: a host that renders something else gets no resourceUri."""
    async with apps_client(state_dir, mime_types=["text/plain"]) as client:
        tools = (await client.list_tools()).tools
    assert all(tool.meta is None for tool in tools)


async def test_card_tools_keep_their_text_for_apps_hosts(state_dir: Path) -> None:
    """A host shows the card beside the answer; the model still reads the same text."""
    async with apps_client(state_dir) as apps, local_client(state_dir) as plain:
        with_card = await apps.call_tool("launch_training", {"model": "m", "dataset": "d", "dry_run": True})
        without = await plain.call_tool("launch_training", {"model": "m", "dataset": "d", "dry_run": True})
    assert not with_card.is_error and text_of(with_card) == text_of(without) and "Dry run" in text_of(with_card)
    assert with_card.structured_content == without.structured_content


def test_the_card_is_one_self_contained_file_under_100_kb() -> None:
    html = card_html()
    assert len(html.encode()) < 100_000
    # Nothing fetched: no external script, stylesheet, font, image or request API.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"@import|@font-face|url\(\s*['\"]?(https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"\bfetch\(|XMLHttpRequest|WebSocket|EventSource|sendBeacon", html)
    # The spec's dialect, spoken by hand.
    for method in ("ui/initialize", "ui/notifications/initialized", "ui/notifications/tool-input",
                   "ui/notifications/tool-result", "ui/notifications/host-context-changed",
                   "ui/notifications/size-changed", "ui/resource-teardown", "tools/call"):
        assert method in html, method
    # The tools it calls exist and the refreshing ones change nothing.
    called = set(re.findall(r"callTool\(\"(\w+)\"", html))
    assert called == {"inspect_job", "job_metrics", "fetch_logs", "list_hardware", "cancel_job", "list_jobs"}


async def test_one_server_answers_each_client_by_its_own_capabilities(state_dir: Path) -> None:
    """The stamp is per request: the same server object serves a plain client and an Apps host."""
    server = build_server(Settings.from_env({}, backend="local", home=state_dir))
    async with Client(server, mode="legacy", extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
                      ) as apps:
        stamped = [t.name for t in (await apps.list_tools()).tools if t.meta]
    async with connect(server) as plain:
        unstamped = [t.name for t in (await plain.list_tools()).tools if t.meta]
    assert sorted(stamped) == sorted(CARD_TOOLS) and unstamped == []


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_stamp_follows_the_declared_capabilities_in_either_protocol_era(state_dir: Path, mode: str) -> None:
    """2026-07-28 clients declare capabilities on every request rather than at a handshake; both are read."""
    server = build_server(Settings.from_env({}, backend="local", home=state_dir))
    ui = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    async with Client(server, mode=mode, extensions=[ui]) as apps:
        stamped = sorted(t.name for t in (await apps.list_tools()).tools if t.meta)
    async with Client(server, mode=mode) as plain:
        unstamped = [t.name for t in (await plain.list_tools()).tools if t.meta]
    assert stamped == sorted(CARD_TOOLS) and unstamped == []


async def _raw_initialize(server: Any, version: str) -> dict[str, Any]:
    """The wire answer to an `initialize` at `version`, as an Apps host of that version sends it (the SDK's client
    only speaks the newest handshake version)."""
    from mcp.shared.memory import create_client_server_memory_streams
    from mcp.shared.message import SessionMessage
    from mcp_types.jsonrpc import JSONRPCRequest

    lowlevel = server._lowlevel_server
    async with create_client_server_memory_streams() as ((client_read, client_write), (server_read, server_write)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: lowlevel.run(server_read, server_write, lowlevel.create_initialization_options()))
            await client_write.send(SessionMessage(JSONRPCRequest(jsonrpc="2.0", id=1, method="initialize", params={
                "protocolVersion": version, "clientInfo": {"name": "an apps host", "version": "1"},
                "capabilities": {"extensions": {EXTENSION_ID: {"mimeTypes": [APP_MIME_TYPE]}}}})))
            answer = await client_read.receive()
            tg.cancel_scope.cancel()
    return answer.message.model_dump(by_alias=True, mode="json", exclude_none=True)["result"]


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_the_ui_extension_is_in_the_initialize_answer_of_older_versions(state_dir: Path, version: str) -> None:
    """Regression (issue 21): the SDK's per-version sieve dropped `capabilities.extensions` from `initialize`, so a
    2025-era Apps host read no UI support; discovery had it. Tasks are a 2026-07-28 extension and stay out."""
    result = await _raw_initialize(build_server(Settings.from_env({}, backend="local", home=state_dir)), version)
    assert result["protocolVersion"] == version
    assert result["capabilities"]["extensions"] == {EXTENSION_ID: {}}
    assert result["capabilities"]["tools"] is not None and result["serverInfo"]["name"] == "trl-jobs"


async def test_the_installed_console_script_serves_the_card_over_stdio(state_dir: Path) -> None:
    """The HTML is package data: the installed server finds it, and stamps the tools for an Apps host."""
    params = StdioServerParameters(command=console_script(), args=[], env={"TRL_JOBS_HOME": str(state_dir)})
    async with Client(params, mode="legacy", extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
                      ) as client:
        stamped = {t.name: t.meta for t in (await client.list_tools()).tools if t.meta}
        read = await client.read_resource(CARD_URI)
    assert stamped == {key: {"ui": {"resourceUri": CARD_URI}} for key in CARD_TOOLS}
    assert read.contents[0].text == card_html()
