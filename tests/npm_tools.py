"""Official tools from npm (the MCP Inspector, the MCP bundle CLI), run with npx at a pinned version.

A test that needs one is skipped, saying why, where npx is absent or the package cannot be fetched (no network and
not in npm's cache): these check our output with someone else's tool, they are not part of what we ship.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INSPECTOR = "@modelcontextprotocol/inspector@2.11.0"
MCPB = "@anthropic-ai/mcpb@2.1.2"
# What npm says when it cannot fetch a package; anything else is the tool's own answer.
_UNFETCHABLE = ("ENOTFOUND", "ETIMEDOUT", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "E404", "ENETUNREACH",
                "network request", "npm error code")


def npx(package: str, *args: str, cwd: Path | None = None, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    """`npx -y <package> <args>`: its completed process; skips the test where the tool cannot be had."""
    found = shutil.which("npx")
    if found is None:
        pytest.skip(f"npx is not installed (Node.js's npm): {package} checks this")
    done = subprocess.run([found, "-y", package, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0 and any(sign in done.stderr for sign in _UNFETCHABLE):
        pytest.skip(f"npx could not fetch {package}: {done.stderr.strip().splitlines()[-1][:300]}")
    return done
