"""`trl-jobs-mcp config CLIENT`: the configuration that connects CLIENT to this install, ready to paste.

Desktop clients start servers without your shell's PATH (a venv's `trl-jobs-mcp` is not found: `spawn trl-jobs-mcp
ENOENT`), so the stdio forms name the absolute path of this install's console script, or uvx with a requirement
that installs this same package (jobs/core/installed.py). The HTTP form carries the bearer token in an
Authorization header, which keeps OAuth-aware clients from starting an OAuth flow.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode")
# Where each client keeps its servers (the file the snippet goes in), for the line printed above it.
WHERE = {
    "claude-desktop": "claude_desktop_config.json (Settings > Developer > Edit Config; macOS: ~/Library/Application "
                      "Support/Claude/, Windows: %APPDATA%\\Claude\\)",
    "claude-code": "a shell (`claude mcp add`; add `--scope project` to share it in .mcp.json)",
    "cursor": "~/.cursor/mcp.json (every project) or .cursor/mcp.json (one project)",
    "vscode": ".vscode/mcp.json in the workspace (or \"MCP: Open User Configuration\" for every workspace)",
}


def console_script() -> str:
    """The absolute path of this install's `trl-jobs-mcp` (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("trl-jobs-mcp")
    if beside.is_file():
        return str(beside)
    return shutil.which("trl-jobs-mcp") or f"{sys.executable} -m trl_jobs_mcp"


def snippet(client: str, *, uvx: bool = False, url: str | None = None, token: str | None = None) -> str:
    """The text to paste for `client`: a JSON object for the editors and desktop, a command for Claude Code."""
    if url:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if client == "claude-code":
            header = f" --header {shlex.quote('Authorization: Bearer ' + token)}" if token else ""
            return f"claude mcp add --transport http trl-jobs {shlex.quote(url)}{header}"
        if client == "claude-desktop":  # its config file speaks stdio only: mcp-remote bridges to the URL
            args = ["-y", "mcp-remote", url, *(["--header", "Authorization:${AUTH_HEADER}"] if token else [])]
            entry: dict = {"command": "npx", "args": args, **({"env": {"AUTH_HEADER": f"Bearer {token}"}}
                                                                   if token else {})}
        else:
            entry = {**({"type": "http"} if client == "vscode" else {}), "url": url,
                     **({"headers": headers} if headers else {})}
    else:
        if uvx:
            from ..jobs.core.installed import requirement

            command, args = "uvx", ["--from", requirement(extras="local"), "trl-jobs-mcp"]
        else:
            command, *args = shlex.split(console_script())
        if client == "claude-code":
            return "claude mcp add trl-jobs -- " + shlex.join([command, *args])
        entry = {"command": command, **({"args": args} if args else {})}
        if client == "vscode":
            entry = {"type": "stdio", **entry}
    key = "servers" if client == "vscode" else "mcpServers"
    return json.dumps({key: {"trl-jobs": entry}}, indent=2)


def print_config(client: str, *, uvx: bool = False, url: str | None = None, token: str | None = None) -> int:
    print(f"# {client}: paste into {WHERE[client]}", file=sys.stderr)
    print(snippet(client, uvx=uvx, url=url, token=token))
    return 0
