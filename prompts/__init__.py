"""MCP prompts: conversation starters that walk an assistant through the tools in the order they are meant to be
used. One module per prompt, each with NAME, TITLE, DESCRIPTION and a function of that NAME returning the text.

`register_prompts(server)` adds them all to an MCPServer; the functions themselves are plain and import no mcp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

PROMPT_MODULES = ("trl_jobs_mcp.prompts.plan_fine_tune", "trl_jobs_mcp.prompts.diagnose_job", "trl_jobs_mcp.prompts.choose_hardware")


def register_prompts(server: MCPServer) -> None:
    from mcp.server.mcpserver.prompts import Prompt

    for name in PROMPT_MODULES:
        module = importlib.import_module(name)
        server.add_prompt(Prompt.from_function(getattr(module, module.NAME), name=module.NAME, title=module.TITLE,
                                               description=module.DESCRIPTION))
