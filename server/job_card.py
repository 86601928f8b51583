"""The job card: an MCP App (`io.modelcontextprotocol/ui`, SEP-1865) that shows a training job live in the chat.

One self-contained HTML file (server/ui/job_card.html, shipped as package data) is served at `CARD_URI` as
`text/html;profile=mcp-app`. launch_training, inspect_job and wait_for_job point at it with `_meta.ui.resourceUri`,
but only in the tools/list answer of a client that declared the UI extension: a host without Apps sees exactly the
list it always saw. Tool results are the same for every client (the card reads their structured content; a model
reads their text), and the card refreshes itself by calling the read-only tools through the host.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from mcp.server.apps import APP_MIME_TYPE, Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types import ListToolsResult

CARD_URI = "ui://trl-jobs/job-card.html"
# The tools whose result the card renders; the card itself calls inspect_job, job_metrics, fetch_logs,
# list_hardware and cancel_job (model-visible tools: the default visibility lets an app call them too).
CARD_TOOLS = frozenset({"launch_training", "inspect_job", "wait_for_job"})


@cache
def card_html() -> str:
    """The card's HTML, read from the installed package (it is package data, not a module)."""
    return files("trl_jobs_mcp.server").joinpath("ui", "job_card.html").read_text(encoding="utf-8")


def job_card_extension() -> Apps:
    """The Apps extension serving the card. The empty CSP asks hosts for their restrictive default: the card
    fetches nothing; every byte it shows comes through the host's tools/call. The HTML is read when a host first
    reads the card, not when the server is built."""
    from mcp.server.mcpserver.resources import FunctionResource

    apps = Apps()
    apps.add_resource(FunctionResource(
        uri=CARD_URI, name="job_card", title="Training job card", mime_type=APP_MIME_TYPE, fn=card_html,
        description="A live card for one training job: stage, elapsed time and cost, progress with ETA, loss and "
                    "other curves, the last log lines, and a Cancel button.",
        meta={"ui": {"csp": ResourceCsp().model_dump(by_alias=True, exclude_none=True), "prefersBorder": True}}))
    return apps


async def stamp_card_on_tools(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: in a tools/list answer to a client that declared Apps, point the card's tools at it.

    Done per request rather than when the tools are built, because the same server (one process on streamable
    HTTP) answers clients with and without Apps.
    """
    result = await call_next(ctx)
    if ctx.method != "tools/list" or not client_supports_apps(ctx):
        return result
    # The chain hands back the wire form (a dict); a model is accepted too, in case a later SDK stops serializing
    # before the middleware.
    if isinstance(result, ListToolsResult):
        result = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return result
    tools = [{**tool, "_meta": {**(tool.get("_meta") or {}), "ui": {"resourceUri": CARD_URI}}}
             if tool.get("name") in CARD_TOOLS else tool for tool in result["tools"]]
    return {**result, "tools": tools}
