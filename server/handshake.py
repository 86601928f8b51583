"""The UI extension in the `initialize` answer of the handshake-era protocol versions (2025-06-18, 2025-11-25).

Apps hosts of those versions (Claude Desktop, VS Code, ChatGPT) declare `io.modelcontextprotocol/ui` under
`capabilities.extensions` in their `initialize` request and read the server's support from the same place in the
answer (the MCP Apps spec, 2026-01-26). The SDK shapes each answer by the negotiated version's schema, which has no
`extensions` there, so it drops ours; server/discover (2026-07-28) keeps it. This server middleware puts the UI
entry back after that sieve. Tasks stay out: they exist only at 2026-07-28 (server/tasks.py), where discovery says so.
"""

from __future__ import annotations

from typing import Any

from mcp.server.apps import EXTENSION_ID
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext


async def advertise_ui_on_initialize(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: add the UI extension to an `initialize` answer's capabilities."""
    result = await call_next(ctx)
    if ctx.method != "initialize" or not isinstance(result, dict):
        return result
    capabilities = result.get("capabilities")
    if not isinstance(capabilities, dict):
        return result
    extensions = capabilities.get("extensions") or {}
    if EXTENSION_ID in extensions:
        return result
    return {**result, "capabilities": {**capabilities, "extensions": {**extensions, EXTENSION_ID: {}}}}
