"""Stdio, as the SDK serves it, plus an answer to a line it cannot parse.

The SDK's stdio transport hands an unparseable line to the session as an exception, which the session drops with a
debug log: the client hears nothing and waits until its own timeout. The common case is a request holding a lone
UTF-16 surrogate (`"\\ud800"`), which Python's json accepts and pydantic's parser refuses. Here such a line gets a
JSON-RPC error (-32700 parse error; -32600 for JSON that is not a JSON-RPC message) with the request's id, which
the line still yields, so the waiting request ends at once. A line with no id to answer (garbage, a stray log line)
is dropped as the SDK drops it: answering `"id": null` can start an error storm with a peer that answers back
(modelcontextprotocol/rust-sdk#938). Upstream: modelcontextprotocol/python-sdk#2751 (its fix, #2766, was closed).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

logger = logging.getLogger("trl_jobs_mcp.server")


def parse_error_answer(exc: Exception) -> JSONRPCError | None:
    """The JSON-RPC error for a line the transport could not read as a message; None when it has no id to answer."""
    line: Any = None
    invalid_json = True
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        invalid_json = any(err["type"] == "json_invalid" for err in errors)
        line = next((err.get("input") for err in errors if isinstance(err.get("input"), str | bytes)), None)
    request_id = None
    if line is not None:
        try:
            data = json.loads(line)  # lenient where pydantic is strict: a lone surrogate passes here
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("id"), str | int) and not isinstance(data["id"], bool):
            request_id = data["id"]
    if request_id is None:
        return None
    if invalid_json:
        message = "Parse error: the message is not valid JSON."
        if isinstance(line, str) and re.search(r"\\u[dD][89a-fA-F]", line):
            message += (" A string may not hold a lone UTF-16 surrogate (\\ud800-\\udfff without its pair); "
                        "send text as valid UTF-8.")
        return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=PARSE_ERROR, message=message))
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(
        code=INVALID_REQUEST, message="Invalid request: the message is JSON but not a JSON-RPC 2.0 message."))


async def serve_stdio(server: MCPServer, *, note: str | None = None) -> None:
    """`server.run_stdio_async()`, with unparseable lines answered instead of dropped, and Ctrl-C that quits.

    The SDK reads stdin in a worker thread that nothing interrupts, and leaving the transport waits for that thread:
    after a KeyboardInterrupt the process would wait for a line or EOF. So SIGINT ends the session (the lifespan
    closes the backend, as at EOF) and the process exits without waiting for the reader, with status 130 as a shell
    reports Ctrl-C. Jobs run in their own processes and the job store is crash-safe, so nothing is lost.

    Args:
        note: printed to stderr once Ctrl-C is handled (a person at a terminal reads it; a client ignores stderr).
    """
    lowlevel = server._lowlevel_server  # what run_stdio_async runs; the SDK has no public hook for the read side
    interrupted = False
    async with stdio_server() as (read_stream, write_stream):
        forward, inbound = create_context_streams[SessionMessage | Exception](0)

        async def answer_parse_errors() -> None:
            async with forward:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        answer = parse_error_answer(item)
                        logger.info("stdio: an unreadable message (%s)",
                                    f"answered, id {answer.id}" if answer else "no id: dropped")
                        if answer is not None:
                            await write_stream.send(SessionMessage(answer))
                    else:
                        await forward.send(item)

        async def stop_on_interrupt(scope: anyio.CancelScope) -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                if note:
                    print(note, file=sys.stderr, flush=True)
                async for _ in signals:
                    interrupted = True
                    scope.cancel()
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_parse_errors)
            tg.start_soon(stop_on_interrupt, tg.cancel_scope)
            await lowlevel.run(inbound, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()
        if interrupted:
            print("trl-jobs-mcp: interrupted, stopped.", file=sys.stderr, flush=True)
            os._exit(130)
