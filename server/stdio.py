"""Stdio, as the SDK serves it, plus an answer to every request it would leave unanswered, and a bounded line.

The SDK's stdio transport hands an unparseable line to the session as an exception, which the session drops with a
debug log: the client hears nothing and waits until its own timeout. The common case is a request holding a lone
UTF-16 surrogate (`"\\ud800"`), which Python's json accepts and pydantic's parser refuses; others are 100,000-deep
nesting, a 5,000-digit number, or JSON that is not a JSON-RPC message (`{"jsonrpc": "2.0", "id": 11, "foo": 1}`).
Here such a line gets a JSON-RPC error (-32700 parse error; -32600 for JSON that is not a JSON-RPC message) with the
request's id, found at the line's top level without parsing it whole, so the waiting request ends at once. A line
with no id to answer (garbage, a stray log line) is dropped as the SDK drops it: answering `"id": null` can start an
error storm with a peer that answers back (modelcontextprotocol/rust-sdk#938). Upstream:
modelcontextprotocol/python-sdk#2751 (its fix, #2766, was closed).

The SDK reads a whole line however long (one 300 MB line took 926 MB): here stdin is read in chunks, and a line
over wire.MAX_LINE_BYTES is answered with an error and discarded as it streams past. A tools/call whose JSON repeats
a key in one object is refused (wire.duplicate_key). The rest (fd claims, the writer) is the SDK's own behaviour.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import mcp_types as types
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

from .wire import (MAX_LINE_BYTES, duplicate_key, duplicate_key_error, too_long_error, top_level_id,
                   usable_id)

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

logger = logging.getLogger("trl_jobs_mcp.server")

_CHUNK = 2**16
_HEAD = 2**16  # what is kept of an over-long line: enough to find its id


@dataclass
class TooLong:
    """A line over MAX_LINE_BYTES: its first bytes (to find an id) and how many bytes it had."""

    head: bytes
    size: int


async def read_lines(stdin: Any) -> AsyncIterator[bytes | TooLong]:
    """The lines of `stdin` (an async binary file with read1), each at most MAX_LINE_BYTES; a longer one is a
    TooLong, never held whole. The last line need not end with a newline."""
    pending = bytearray()
    skipped: TooLong | None = None
    while True:
        chunk = await stdin.read1(_CHUNK)
        if not chunk:
            break
        searched = len(pending)  # what is pending holds no newline: look in the new bytes only
        pending += chunk
        while (end := pending.find(b"\n", searched)) >= 0:
            searched = 0
            if skipped is not None:
                skipped.size += end
                yield skipped
                skipped = None
            elif end > MAX_LINE_BYTES:
                yield TooLong(bytes(pending[:_HEAD]), end)
            else:
                yield bytes(pending[:end])
            del pending[:end + 1]
        if skipped is None and len(pending) > MAX_LINE_BYTES:
            skipped = TooLong(bytes(pending[:_HEAD]), 0)
        if skipped is not None:
            skipped.size += len(pending)
            pending.clear()
    if skipped is not None:
        yield skipped
    elif pending.strip():
        yield bytes(pending)


def parse_error_answer(exc: Exception, line: str | None = None) -> JSONRPCError | None:
    """The JSON-RPC error for a line the transport could not read as a message; None when it has no id to answer."""
    invalid_json = True
    request_id = None
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False)
        invalid_json = any(err["type"] == "json_invalid" for err in errors)
        parsed = next((err.get("input") for err in errors if isinstance(err.get("input"), dict)), None)
        if parsed is not None:  # valid JSON, not JSON-RPC: pydantic already holds it parsed
            request_id = usable_id(parsed.get("id"))
        line = line or next((err.get("input") for err in errors if isinstance(err.get("input"), str)), None)
    if request_id is None and line is not None:
        try:
            data = json.loads(line)  # lenient where pydantic is strict: a lone surrogate passes here
        except (ValueError, RecursionError):
            data = None
        request_id = usable_id(data.get("id")) if isinstance(data, dict) else top_level_id(line)
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


def _claim_stdio() -> tuple[BinaryIO, BinaryIO, list[Any]]:
    """stdin and stdout as the SDK's stdio_server claims them (fd 0 and 1 diverted while we serve, so children and
    stray prints miss the wire), with what releases them."""
    from mcp.server import stdio as sdk

    stdin, release_in = sdk._claim_fd(0, sys.stdin, "rb", sdk._open_stdin_diversion)
    stdout, release_out = sdk._claim_fd(1, sys.stdout, "wb", sdk._open_stdout_diversion)
    return stdin, stdout, [r for r in (release_out, release_in) if r is not None]


def _message_or_answer(line: bytes | TooLong) -> SessionMessage | JSONRPCError | None:
    """What one line is: a message for the session, an error answer for the client, or nothing (no id)."""
    if isinstance(line, TooLong):
        request_id = top_level_id(line.head.decode("utf-8", errors="replace"))
        logger.info("stdio: a line of %d bytes over the limit (%s)", line.size, "answered" if request_id else "no id")
        return too_long_error(request_id, line.size) if request_id is not None else None
    text = line.decode("utf-8", errors="replace")
    try:
        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
    except Exception as exc:
        answer = parse_error_answer(exc, text)
        logger.info("stdio: an unreadable message (%s)", f"answered, id {answer.id}" if answer else "no id: dropped")
        return answer
    if isinstance(message, types.JSONRPCRequest) and message.method == "tools/call" and (key := duplicate_key(text)):
        return duplicate_key_error(message.id, key)
    return SessionMessage(message)


async def serve_stdio(server: MCPServer, *, note: str | None = None) -> None:
    """`server.run_stdio_async()`, with every request answered (see the module's docstring), lines bounded, and
    Ctrl-C that quits.

    stdin is read in a worker thread that nothing interrupts, and leaving the reader waits for that thread: after a
    KeyboardInterrupt the process would wait for a line or EOF ("Ctrl-C quits." did not; issue 25). So SIGINT ends
    the session (the lifespan closes the backend, as at EOF) and the process exits without waiting for the reader,
    with status 130 as a shell reports Ctrl-C. Jobs run in their own processes and the job store is crash-safe.

    Args:
        note: printed to stderr once Ctrl-C is handled (a person at a terminal reads it; a client ignores stderr).
    """
    lowlevel = server._lowlevel_server  # what run_stdio_async runs; the SDK has no public hook for the read side
    stdin, stdout, releases = _claim_stdio()
    inbound_send, inbound = create_context_streams[SessionMessage | Exception](0)
    outbound, outbound_reader = create_context_streams[SessionMessage](0)
    wire_in, wire_out = anyio.wrap_file(stdin), anyio.wrap_file(stdout)

    async def write(message: Any) -> None:
        data = message.model_dump_json(by_alias=True, exclude_unset=True)
        await wire_out.write(data.encode() + b"\n")
        await wire_out.flush()

    async def reader() -> None:
        async with inbound_send:
            async for line in read_lines(wire_in):
                item = _message_or_answer(line)
                if isinstance(item, SessionMessage):
                    await inbound_send.send(item)
                elif item is not None:
                    await outbound.send(SessionMessage(item))

    interrupted = False

    async def stop_on_interrupt(scope: anyio.CancelScope) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            if note:
                print(note, file=sys.stderr, flush=True)
            async for _ in signals:
                interrupted = True
                scope.cancel()
                return

    async def writer() -> None:
        async with outbound_reader:
            async for session_message in outbound_reader:
                await write(session_message.message)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            async with anyio.create_task_group() as reading:
                reading.start_soon(reader)
                with anyio.CancelScope() as serving:
                    reading.start_soon(stop_on_interrupt, serving)
                    await lowlevel.run(inbound, outbound, lowlevel.create_initialization_options())
                if interrupted:
                    print("trl-jobs-mcp: interrupted, stopped.", file=sys.stderr, flush=True)
                    os._exit(130)  # not waiting for the reader's thread, blocked on stdin
                reading.cancel_scope.cancel()
            await outbound.aclose()  # the writer sends what is queued, then ends
    finally:
        for release in releases:
            release()
