"""MCP resources: a job as JSON (jobs://{job_id}), the end of its log (jobs://{job_id}/logs), the hardware catalog.

Resources are what a client can attach to a conversation without a tool call. They read through the same backend
as the tools and pass through the same secret redaction.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from ..jobs.core.models import JobNotFoundError, JobsError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from .app import AppState

LOG_RESOURCE_LINES = 200
HARDWARE_URI = "hardware://catalog"


@asynccontextmanager
async def _answers(state: AppState) -> AsyncIterator[None]:
    """The engine's errors as the resource errors MCPServer passes on (anything else it hides as 'unexpected')."""
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

    try:
        yield
    except JobNotFoundError as exc:
        raise ResourceNotFoundError(state.secrets.redact(str(exc))) from None
    except JobsError as exc:
        raise ResourceError(state.secrets.redact(str(exc))) from None


def register_resources(server: MCPServer, state: AppState) -> None:
    """Add the job, log and hardware resources to `server`, reading through `state`'s backend."""

    @server.resource("jobs://{job_id}", name="job", title="A training job", mime_type="application/json",
                     description="The job as inspect_job sees it (stage, message, timings, flavor, redacted command, "
                                 "output location), as JSON.")
    async def job(job_id: str) -> str:
        async with _answers(state):
            info = await (await state.backend()).inspect(job_id)
        return state.secrets.redact(info.model_dump_json(indent=2))

    @server.resource("jobs://{job_id}/logs", name="job_logs", title="A training job's log", mime_type="text/plain",
                     description=f"The last {LOG_RESOURCE_LINES} lines of the job's log, secrets scrubbed. "
                                 "fetch_logs pages through the rest.")
    async def job_logs(job_id: str) -> str:
        async with _answers(state):
            chunk = await (await state.backend()).logs(job_id, tail=LOG_RESOURCE_LINES)
        return state.secrets.redact("\n".join(chunk.lines))

    @server.resource(HARDWARE_URI, name="hardware", title="Hardware catalog", mime_type="application/json",
                     description="Every flavor with its GPU, VRAM, CPUs, RAM and price per hour, and whether the "
                                 "current backend can run it.")
    async def hardware() -> str:
        async with _answers(state):
            flavors = await (await state.backend()).hardware()
        return json.dumps([flavor.model_dump(mode="json") for flavor in flavors], indent=2)
