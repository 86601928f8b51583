"""Composition root: the tool registry, the backend's life, and the MCPServer that ties them together.

`build_server(settings)` returns a ready MCPServer; the transports in server/cli.py run it. Two things wait until
they are needed, so that the `initialize` answer is not held up (clients time it): the tools, imported and described
on the first tools/list or tools/call (about 100 ms of pydantic work for ten schemas), and the backend, created and
started once per server run in the lifespan's background (a tool call that comes first waits for it) and closed
when the run ends. Running jobs outlive the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Tool as MCPTool

from ..jobs.core.models import BackendUnavailable, JobsError
from ..jobs.core.redact import ambient_secrets
from ..prompts import register_prompts
from .job_card import job_card_extension, stamp_card_on_tools
from .resources import register_resources
from .settings import Settings
from ..tools import (cancel_job, fetch_logs, inspect_job, job_metrics, launch_training, list_hardware, list_jobs,
                    recommend_hardware, rerun_job, run_job, scheduled_jobs, wait_for_job)
from ..tools.base import SecretBook, ToolContext, ToolDef, as_mcp_tool

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..jobs.backends.base import Backend

logger = logging.getLogger("trl_jobs_mcp.server")

# The registry: one module per tool, each exposing TOOL (a tools.base.ToolDef). Order is the order clients list.
TOOL_MODULES = (
    launch_training, list_jobs, inspect_job, fetch_logs, cancel_job, run_job, rerun_job, scheduled_jobs,
    list_hardware, recommend_hardware, wait_for_job, job_metrics,
)

INSTRUCTIONS = """\
Launch, watch and stop TRL training jobs (SFT, DPO, GRPO, KTO, reward, RLOO) on this machine, on Hugging Face \
Jobs or on a Ray cluster. A typical run: launch_training with dry_run=true to check the command and cost, then \
launch_training to start it (it returns a job_id), wait_for_job to follow it to the end (its answer has the step, \
the curves in a sentence, where the trained model is and, where billed, the cost), cancel_job to stop it. \
list_jobs shows every job and how many run; inspect_job one job; fetch_logs the raw log; job_metrics the curves \
with a plot; \
list_hardware and recommend_hardware pick a flavor and its cost. rerun_job runs a job again (resume=true continues \
from its last checkpoint); on Hugging Face, schedule= on a launch and scheduled_jobs run jobs on a schedule. Every \
answer ends with the next call to make.\
"""


def load_tools(*, read_only: bool = False) -> list[ToolDef[Any, Any]]:
    """The registered tools, in registry order; only those that change nothing when `read_only`."""
    tools = [module.TOOL for module in TOOL_MODULES]
    return [tool for tool in tools if tool.read_only or not read_only]


class AppState:
    """What lives as long as the server: settings, the known secrets, and the backend (created on first need)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # ambient_secrets: the HF token a job can reach without being given it (`hf auth login` included).
        self.secrets = SecretBook([*settings.secret_values(), *ambient_secrets()])
        self._backend: Backend | None = None
        self._lock = anyio.Lock()  # outside an event loop too: anyio binds it on first use

    async def backend(self) -> Backend:
        """The started backend; the first caller creates and starts it, the others wait for that."""
        if self._backend is not None:
            return self._backend
        async with self._lock:
            if self._backend is None:
                from ..jobs.backends import make_backend

                try:
                    backend = make_backend(self.settings.backend, **self.settings.backend_settings())
                except ImportError as exc:
                    raise BackendUnavailable(
                        f"The {self.settings.backend!r} backend cannot be loaded in this install ({exc.name} is "
                        "missing). Reinstall trl-jobs-mcp, or choose another backend with TRL_JOBS_BACKEND."
                    ) from exc
                await backend.start()
                self._backend = backend
        return self._backend

    async def warm_up(self) -> None:
        """Start the backend now (reconciling jobs left from an earlier run) rather than at the first call."""
        try:
            await self.backend()
        except JobsError as exc:
            # Not fatal: the first tool call tries again and reports the same reason to the model. The message
            # names the setting and the fix, so one line says it all.
            logger.warning("The %s backend did not start: %s Tool calls will retry.", self.settings.backend, exc)
        except Exception:
            logger.warning("The %s backend did not start; tool calls will retry", self.settings.backend,
                           exc_info=True)

    async def tool_context(self, request: Context | None = None) -> ToolContext:
        return ToolContext(backend=await self.backend(), secrets=self.secrets,
                           max_cost_usd=self.settings.max_cost_usd,
                           idle_timeout=self.settings.idle_timeout, upload_roots=self.settings.upload_roots,
                           request=request,
                           state_home=self.settings.state_home())

    async def aclose(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.aclose()


class JobsServer(MCPServer):
    """An MCPServer whose tools are built on first use (the first tools/list or tools/call), not before the handshake.

    Everything else is MCPServer's own: these two methods are the ones its handlers call. MCPServer's optional
    `Mcp-Param-*` header check (streamable HTTP, 2026-07-28) looks tools up in its own, empty, registry and so is
    skipped; our tools declare no such headers.
    """

    def __init__(self, *, make_tools: Callable[[], list[Tool]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._make_tools = make_tools
        self._tools: ToolManager | None = None

    @property
    def tools(self) -> ToolManager:
        if self._tools is None:
            self._tools = ToolManager(tools=self._make_tools())
        return self._tools

    async def list_tools(self) -> list[MCPTool]:
        return [MCPTool(name=tool.name, title=tool.title, description=tool.description,
                        input_schema=tool.parameters, output_schema=tool.output_schema,
                        annotations=tool.annotations, icons=tool.icons, _meta=tool.meta)
                for tool in self.tools.list_tools()]

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None) -> CallToolResult | InputRequiredResult:
        return await self.tools.call_tool(name, arguments, context or Context(mcp_server=self),
                                          convert_result=True)


def build_server(settings: Settings | None = None) -> MCPServer:
    """The MCP server for `settings` (default: read from the environment), tools registered, backend not started.

    Example:
        >>> from mcp import Client
        >>> async with Client(build_server()) as client:
        ...     await client.call_tool("list_jobs", {})
    """
    settings = settings or Settings.from_env()
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[AppState]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(state.warm_up)
            try:
                yield state
            finally:
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await state.aclose()

    def make_tools() -> list[Tool]:
        return [as_mcp_tool(tool, state.tool_context, state.secrets)
                for tool in load_tools(read_only=settings.read_only)]

    extensions: list = [job_card_extension()]
    if settings.tasks:
        from .task_ids import TaskIds
        from .tasks import TasksExtension

        extensions.append(TasksExtension(state, TaskIds(settings.state_home())))

    server = JobsServer(
        make_tools=make_tools,
        extensions=extensions,
        name="trl-jobs",
        title="TRL Jobs",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=lifespan,
        log_level=settings.log_level,  # type: ignore[arg-type]
        middleware=[stamp_card_on_tools],
    )
    register_prompts(server)
    register_resources(server, state)
    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trl-jobs-mcp")
    except PackageNotFoundError:
        return "0"
