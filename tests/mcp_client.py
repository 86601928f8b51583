"""The MCP client side of the protocol tests: the SDK's real client on the real server, and calling a tool.

`connect` runs the server in this process and reaches it over memory streams (the initialize handshake included);
`local_client` and `hf_client` build it from settings given here alone, so the developer's own HF_TOKEN or TRL_JOBS_*
variables never steer a test. `call` and `call_error` return what the model would read.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.client.session import ElicitationFnT
from mcp_types import CallToolResult, ElicitResult

from trl_jobs_mcp.server.app import build_server
from trl_jobs_mcp.server.settings import Settings

if TYPE_CHECKING:
    from fake_hf_jobs import FakeHFJobs


def connect(server: Settings | MCPServer, *, elicitation: ElicitationFnT | None = None) -> Client:
    """The SDK's client on `server` (or on the server those settings build), run in-process. With `elicitation`,
    the client declares MCP elicitation and that callback plays the person who answers."""
    return Client(build_server(server) if isinstance(server, Settings) else server, mode="legacy",
                  elicitation_callback=elicitation)


def local_client(home: Path, **changes: Any) -> Client:
    """A server on the local backend keeping its state under `home`."""
    return connect(Settings.from_env({}, backend="local", home=home, **changes))


def hf_client(fake: FakeHFJobs, *, elicitation: ElicitationFnT | None = None, **changes: Any) -> Client:
    """A server on the Hugging Face backend, talking to the fake Jobs API with its token."""
    return connect(Settings.from_env({}, backend="hf", hf_token=fake.token, hf_endpoint=fake.url, **changes),
                   elicitation=elicitation)


class Person:
    """The person behind an elicitation-capable client: answers every question with `action` (accept, decline,
    cancel) and keeps the questions it was asked, for a test to read."""

    def __init__(self, action: str = "accept", *, upload: bool = True) -> None:
        self.action = action
        self.upload = upload
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params.message)
        content = {"upload": self.upload} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


def text_of(result: CallToolResult) -> str:
    """The text blocks of a result, joined: what the model reads."""
    return "\n".join(block.text for block in result.content if block.type == "text")


async def call(client: Client, tool: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    """Call a tool that must succeed; return its text and structured content."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return text_of(result), result.structured_content or {}


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; return the error text the model reads."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed: {text_of(result)}"
    return text_of(result)


def console_script() -> str:
    """The installed `trl-jobs-mcp`: beside this interpreter (a venv that is not on PATH), else on PATH."""
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).with_name("trl-jobs-mcp")
    script = str(beside) if beside.is_file() else shutil.which("trl-jobs-mcp")
    if script is None:
        import pytest

        pytest.fail("trl-jobs-mcp is not installed: `pip install -e .`")
    return script


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def http_server(home: Path, *flags: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`trl-jobs-mcp serve --transport http` on a free port, with its state under `home`: its MCP URL once it
    accepts connections, and its process (a test may kill it). Stopped at the end if it still runs."""
    import os
    import socket
    import tempfile

    from polling import wait_until

    port = free_port()
    # A file, not a pipe: a server that logs a lot must never block on a pipe nobody reads.
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen([console_script(), "serve", "--transport", "http", "--port", str(port), *flags],
                            env={**os.environ, "TRL_JOBS_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=stderr)

    def listening() -> bool:
        if proc.poll() is not None:
            stderr.seek(0)
            raise AssertionError(f"the HTTP server exited: {stderr.read().decode(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    try:
        wait_until(listening, timeout=60, interval=0.1, what=f"the HTTP server to listen on port {port}")
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr.close()
