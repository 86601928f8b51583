"""How this package was installed, so that advice names a command that works for that install.

pip records a direct install (a checkout, editable or not, a wheel file, a git URL) in the distribution's
direct_url.json (PEP 610); an install from an index has none. uv's and pipx's tool environments are told apart by
where they live. Nothing here touches the network.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

DIST = "trl-jobs-mcp"
CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def _direct_url() -> dict | None:
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:  # run from a checkout without installing it: the checkout is the source
        return {"url": Path(__file__).resolve().parents[2].as_uri(), "dir_info": {"editable": True}}
    return json.loads(text) if text else None


def requirement(*, extras: str = "") -> str:
    """A requirement that installs this same package again, with `extras` (e.g. "local").

    Example:
        >>> requirement(extras="local")   # installed from a wheel file
        "trl-jobs-mcp[local] @ file:///home/me/dist/trl_jobs_mcp-0.1.0-py3-none-any.whl"
    """
    name = f"{DIST}[{extras}]" if extras else DIST
    direct = _direct_url()
    if not direct:
        return name
    url = direct["url"]
    if "vcs_info" in direct:
        vcs = direct["vcs_info"]
        url = f"{vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}".rstrip("@")
    return f"{name} @ {url}"


def install_command(*, extras: str) -> str:
    """The command that adds `extras` to the environment this server runs in, as it was installed."""
    direct = _direct_url() or {}
    prefix = sys.prefix.replace("\\", "/")
    if "/uv/" in prefix:  # uvx / uv tool: an environment uv builds from a requirement
        return f"run the server with `uvx --from '{requirement(extras=extras)}' trl-jobs-mcp`"
    if "/pipx/" in prefix:
        return f"`pipx install --force '{requirement(extras=extras)}'`"
    if direct.get("dir_info", {}).get("editable") and direct["url"].startswith("file://"):
        checkout = direct["url"].removeprefix("file://")
        return (f"`{sys.executable} {checkout}/install.py` (or `{sys.executable} -m pip install -e "
                f"'{checkout}[{extras}]'`)")
    return f"`{sys.executable} -m pip install '{requirement(extras=extras)}'`"
