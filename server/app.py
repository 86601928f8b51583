"""Composition root: the tool registry, the backend's life, and the MCPServer that ties them together.

`build_server(settings)` returns a ready MCPServer; the transports in server/cli.py run it. What a client does not
need for `initialize` waits (clients time the handshake; issue 25 holds it within 5% of a bare MCPServer's): the
tools, imported and described on the first tools/call (about 120 ms of pydantic work for twelve schemas; the first
tools/list answers from server/tool_cache.py's copy of the last list built, when there is one), the prompts and
resources, registered on the first request for them, the tasks extension's engine, and the backend, created and
started once per server run in the lifespan's background after the client's first request has been answered (a
tool call that comes first waits for it), and closed when the run ends. Running jobs outlive the server.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Tool as MCPTool

from .. import __version__
from .handshake import advertise_ui_on_initialize
from .job_card import job_card_extension, stamp_card_on_tools
from .settings import Settings
from .tool_cache import ToolListCache

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

    from ..jobs.backends.base import Backend
    from ..tools.base import SecretBook, ToolContext, ToolDef

logger = logging.getLogger("trl_jobs_mcp.server")
WARM_UP_PAUSE_S = 0.2

def tool_modules() -> tuple[ModuleType, ...]:
    """The registry: one module per tool, each exposing TOOL (a tools.base.ToolDef), in the order clients list them.

    Imported on first need rather than with this module (their schemas are most of a start-up's own work; issue 25).
    """
    from ..tools import (cancel_job, compare_runs, fetch_logs, inspect_job, job_metrics, launch_training,
                         list_hardware, list_jobs, recommend_hardware, rerun_job, run_job, scheduled_jobs, wait_for_job)

    return (launch_training, list_jobs, inspect_job, fetch_logs, cancel_job, run_job, rerun_job, scheduled_jobs,
            list_hardware, recommend_hardware, wait_for_job, job_metrics, compare_runs)

INSTRUCTIONS = """\
Launch, watch and stop TRL training jobs (SFT, DPO, GRPO, KTO, reward, RLOO) on this machine, on Hugging Face \
Jobs or on a Ray cluster. A typical run: launch_training with dry_run=true to check the command and cost, then \
launch_training to start it (it returns a job_id), wait_for_job to follow it to the end (its answer has the step, \
the curves in a sentence, where the trained model is and, where billed, the cost), cancel_job to stop it. \
list_jobs shows every job and how many run; inspect_job one job; fetch_logs the raw log; job_metrics the curves \
with a plot; \
launch_training with sweep= runs a grid of values as one experiment, compare_runs ranks its runs; \
list_hardware and recommend_hardware pick a flavor and its cost. rerun_job runs a job again (resume=true continues \
from its last checkpoint); on Hugging Face, schedule= on a launch and scheduled_jobs run jobs on a schedule, and \
list_hardware names the account the token acts as and the namespaces hub_model_id can use. Every answer ends with \
the next call to make.\
"""


def load_tools(*, read_only: bool = False) -> list[ToolDef[Any, Any]]:
    """The registered tools, in registry order; only those that change nothing when `read_only`."""
    tools = [module.TOOL for module in tool_modules()]
    return [tool for tool in tools if tool.read_only or not read_only]


class AppState:
    """What lives as long as the server: settings, the known secrets, and the backend (created on first need)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backend: Backend | None = None
        self._lock = anyio.Lock()  # outside an event loop too: anyio binds it on first use
        self.answered: anyio.Event | None = None  # set once the client's first request is answered (lifespan's)

    @cached_property
    def secrets(self) -> SecretBook:
        from ..jobs.core.redact import ambient_secrets
        from ..tools.base import SecretBook

        # ambient_secrets: the HF token a job can reach without being given it (`hf auth login` included).
        return SecretBook([*self.settings.secret_values(), *ambient_secrets()])

    async def backend(self) -> Backend:
        """The started backend; the first caller creates and starts it, the others wait for that."""
        if self._backend is not None:
            return self._backend
        async with self._lock:
            if self._backend is None:
                from ..jobs.backends import make_backend
                from ..jobs.core.models import BackendUnavailable

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
        from ..jobs.core.models import JobsError

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
        from ..tools.base import ToolContext

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
    """An MCPServer whose tools, prompts and resources are built on first use, not before the handshake.

    Everything else is MCPServer's own: the methods below are the ones its handlers call. MCPServer's optional
    `Mcp-Param-*` header check (streamable HTTP, 2026-07-28) looks tools up in its own, empty, registry and so is
    skipped; our tools declare no such headers.
    """

    def __init__(self, *, make_tools: Callable[[], list[Tool]], register_later: Callable[[MCPServer], None],
                 tool_cache: ToolListCache | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._make_tools = make_tools
        self._tools: ToolManager | None = None
        self._tools_lock = threading.Lock()
        self._register_later: Callable[[MCPServer], None] | None = register_later
        self._tool_cache = tool_cache

    @property
    def tools(self) -> ToolManager:
        with self._tools_lock:  # the lifespan's warm-up builds them in a worker thread
            if self._tools is None:
                self._tools = ToolManager(tools=self._make_tools())
        return self._tools

    def _registered(self) -> None:
        if self._register_later is not None:
            register, self._register_later = self._register_later, None
            register(self)

    async def list_tools(self) -> list[MCPTool]:
        if self._tools is None and self._tool_cache is not None and (cached := self._tool_cache.load()):
            return cached
        listed = [MCPTool(name=tool.name, title=tool.title, description=tool.description,
                          input_schema=tool.parameters, output_schema=tool.output_schema,
                          annotations=tool.annotations, icons=tool.icons, _meta=tool.meta)
                  for tool in self.tools.list_tools()]
        if self._tool_cache is not None:
            self._tool_cache.save(listed)
        return listed

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None) -> CallToolResult | InputRequiredResult:
        return await self.tools.call_tool(name, arguments, context or Context(mcp_server=self),
                                          convert_result=True)

    async def list_prompts(self) -> Any:
        self._registered()
        return await super().list_prompts()

    async def get_prompt(self, *args: Any, **kwargs: Any) -> Any:
        self._registered()
        return await super().get_prompt(*args, **kwargs)

    async def list_resources(self) -> Any:
        self._registered()
        return await super().list_resources()

    async def list_resource_templates(self) -> Any:
        self._registered()
        return await super().list_resource_templates()

    async def read_resource(self, *args: Any, **kwargs: Any) -> Any:
        self._registered()
        return await super().read_resource(*args, **kwargs)


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
            answered = state.answered = anyio.Event()

            async def warm_up() -> None:
                await answered.wait()  # not sooner: its imports would hold up the handshake's answers
                # And not at once: the answer just given is still being serialized and written, and imports in a
                # worker thread hold the GIL against it (tools/list measured 1.11x a bare server, 1.05x with this
                # pause). A tool call meanwhile loses nothing: it starts the backend itself.
                await anyio.sleep(WARM_UP_PAUSE_S)
                # Imports and schemas in a worker thread, so the loop stays free to write the answer just given.
                await anyio.to_thread.run_sync(_import_quietly, f"trl_jobs_mcp.jobs.backends.{settings.backend}")
                await state.warm_up()
                await anyio.to_thread.run_sync(lambda: server.tools)  # so the first tool call does not wait

            tg.start_soon(warm_up)
            try:
                yield state
            finally:
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await state.aclose()

    async def warm_after_first_answer(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "initialize" and state.answered is not None:
            state.answered.set()
        return result

    def make_tools() -> list[Tool]:
        from ..tools.base import as_mcp_tool

        return [as_mcp_tool(tool, state.tool_context, state.secrets)
                for tool in load_tools(read_only=settings.read_only)]

    def register_later(server: MCPServer) -> None:
        from ..prompts import register_prompts
        from .resources import register_resources

        register_prompts(server)
        register_resources(server, state)

    extensions: list = [job_card_extension()]
    if settings.tasks:
        from .task_ids import TaskIds
        from .tasks import TasksExtension

        extensions.append(TasksExtension(state, TaskIds(settings.state_home())))

    server = JobsServer(
        make_tools=make_tools,
        register_later=register_later,
        tool_cache=ToolListCache(folder=settings.state_home() / "cache", read_only=settings.read_only),
        extensions=extensions,
        name="trl-jobs",
        title="TRL Jobs",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=settings.log_level,  # type: ignore[arg-type]
        middleware=[stamp_card_on_tools, advertise_ui_on_initialize, warm_after_first_answer],
    )
    return server


def _import_quietly(name: str) -> None:
    """Import `name` ahead of need; a failure is reported where the module is needed (AppState.backend)."""
    try:
        importlib.import_module(name)
    except ImportError:
        pass
