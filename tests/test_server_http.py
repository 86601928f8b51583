"""Streamable HTTP, for real: the console script serving on 127.0.0.1, and the bearer-token check in front of it."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp_client import console_script, free_port, http_server
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

pytestmark = pytest.mark.anyio

TOKEN = "test-token-8c1f2a"
INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}}}).encode()


def post(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=INITIALIZE, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


async def test_with_a_token_requests_without_it_get_401_and_with_it_get_mcp(state_dir: Path) -> None:
    with http_server(state_dir, "--auth-token", TOKEN) as (url, _):
        status, body = post(url, {})
        assert status == 401 and b"Authorization: Bearer" in body
        assert post(url, {"Authorization": "Bearer wrong-token"})[0] == 401
        assert post(url, {"Authorization": TOKEN})[0] == 401  # the scheme is part of it

        status, _ = post(url, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        # Regression (issue 16): "bearer <token>" got 401; RFC 9110 makes the scheme case-insensitive.
        assert post(url, {"Authorization": f"bearer {TOKEN}"})[0] == 200
        assert post(url, {"Authorization": f"BEARER {TOKEN}"})[0] == 200
        assert post(url, {"Authorization": f"Basic {TOKEN}"})[0] == 401
        assert post(url, {"Authorization": f"bearer {TOKEN[:-1]}"})[0] == 401
        assert post(url, {"Authorization": f"bearer {TOKEN}x"})[0] == 401

        http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert "launch_training" in names
            result = await client.call_tool("list_jobs", {})
            assert not result.is_error and result.structured_content["jobs"] == []
            result = await client.call_tool("inspect_job", {"job_id": "0123456789abcdef"})
            assert result.is_error and TOKEN not in result.content[0].text


async def test_loopback_without_a_token_serves_mcp(state_dir: Path) -> None:
    with http_server(state_dir) as (url, _):
        async with Client(url, mode="legacy") as client:
            assert "fetch_logs" in {tool.name for tool in (await client.list_tools()).tools}


def test_binding_beyond_loopback_without_a_token_is_refused(state_dir: Path) -> None:
    script = console_script()
    out = subprocess.run([script, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "TRL_JOBS_AUTH_TOKEN"})
    assert out.returncode == 2
    assert "--auth-token" in out.stderr and "TRL_JOBS_AUTH_TOKEN" in out.stderr and "127.0.0.1" in out.stderr


async def test_a_tools_call_that_repeats_a_key_is_refused_naming_it(state_dir: Path) -> None:
    """Bug (issue 23): a JSON object with a duplicate key took the last value (`"dry_run": true, "dry_run": false`
    launched). Over HTTP such a tools/call is answered with a JSON-RPC error naming the key; nothing runs."""
    import sys

    call = ('{"jsonrpc":"2.0","id":"dup-1","method":"tools/call","params":{"name":"run_job","arguments":'
            f'{{"command":[{json.dumps(sys.executable)},"-c","pass"],"dry_run":true,"dry_run":false}}}}}}').encode()
    with http_server(state_dir) as (url, _):
        request = urllib.request.Request(url, data=call, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        async with Client(url, mode="legacy") as client:
            listed = await client.call_tool("list_jobs", {})
    assert answer["id"] == "dup-1" and answer["error"]["code"] == -32602 and "'dry_run'" in answer["error"]["message"]
    assert listed.structured_content["jobs"] == []
