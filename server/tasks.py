"""The MCP tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663, protocol 2026-07-28) over our jobs.

For a request that declares the extension in its capabilities, launch_training and run_job (not a dry run, not a
refusal) answer a task instead of the launch text, and wait_for_job answers a task for a job that has not ended,
with no time bound. The client polls tasks/get (status `working` while the job is SCHEDULING or RUNNING, with a
line a person can read) until the task inlines the tool's final answer, and tasks/cancel stops the job as
cancel_job does. Everything else, and every client that does not declare the extension, gets today's answers.

The job is the task: a task id is the job's id signed with this home's key (server/task_ids.py), so a task is
created when the backend has accepted the job, and any server on the same home answers for it after a restart,
whatever the backend, through the Backend protocol alone. What lives in memory (the log read so far, what the
launch answered) only saves work and is rebuilt from the job when missing. Each call's task is its own (a nonce in
the id), and a task that ended keeps its ending on disk (server/task_states.py): a cancelled wait stays cancelled
and a completed task keeps its answer, whoever asks and after a restart. The engine's modules (jobs/, tools/,
task_view) are imported by the handlers that use them, not with this module: a server builds this extension before
its handshake, which issue 25 keeps as quick as a bare MCPServer's.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
from mcp_types import CallToolRequestParams, CallToolResult, RequestParams
from mcp_types.jsonrpc import HEADER_MISMATCH, INTERNAL_ERROR, INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import Field, ValidationError

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

    from ..jobs.core.models import JobInfo
    from . import task_view as view
    from .app import AppState
    from .task_ids import TaskIds, TaskRef
    from .task_states import TaskStates

logger = logging.getLogger("trl_jobs_mcp.server.tasks")

IDENTIFIER = "io.modelcontextprotocol/tasks"
LAUNCHING_TOOLS = ("launch_training", "run_job")
WAITING_TOOL = "wait_for_job"
# wait_for_job's arguments that shape its final answer; `timeout` is not one of them: a task has no time bound.
_WAIT_ARGUMENTS = ("since", "until", "max_lines")
_MEMORY = 256  # tasks whose log reading is kept between polls


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId", min_length=1, max_length=1000)


class UpdateTaskParams(TaskParams):
    input_responses: dict[str, Any] = Field(default_factory=dict, alias="inputResponses")


def declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request may get a task: a 2026-07-28 request whose own capabilities name the extension."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and IDENTIFIER in capabilities.extensions)


def _not_found(what: str = "Task not found") -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=f"Failed to retrieve task: {what}. The task id is not one this "
                                                 "server issued, or its job is gone; call list_jobs to see the jobs.")


class TasksExtension(Extension):
    identifier = IDENTIFIER

    def __init__(self, state: AppState, ids: TaskIds) -> None:
        self._state = state
        self._ids = ids
        self._progress: OrderedDict[str, view.Progress] = OrderedDict()
        self._launched: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._finals: OrderedDict[str, CallToolResult] = OrderedDict()
        self._kept: TaskStates | None = None

    @property
    def _states(self) -> TaskStates:
        """The ended tasks' states, on first need (the state home is resolved then, not before the handshake)."""
        if self._kept is None:
            from .task_states import TaskStates

            self._kept = TaskStates(self._state.settings.state_home())
        return self._kept

    def methods(self) -> list[MethodBinding]:
        versions = frozenset(MODERN_PROTOCOL_VERSIONS)
        return [MethodBinding("tasks/get", TaskParams, self._get, protocol_versions=versions),
                MethodBinding("tasks/update", UpdateTaskParams, self._update, protocol_versions=versions),
                MethodBinding("tasks/cancel", TaskParams, self._cancel, protocol_versions=versions)]

    # --- tools/call ---

    async def intercept_tool_call(self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any],
                                  call_next: CallNext) -> HandlerResult:

        if not declared(ctx) or params.name not in (*LAUNCHING_TOOLS, WAITING_TOOL):
            return await call_next(ctx)
        if params.name == WAITING_TOOL:
            return await self._wait_task(params, ctx, call_next)
        result = await call_next(ctx)
        if not isinstance(result, CallToolResult) or result.is_error:
            return result  # a refusal: nothing runs, so there is nothing to wait for
        structured = result.structured_content or {}
        if structured.get("dry_run") or not structured.get("job_id"):
            return result  # a dry run
        from .task_ids import TaskRef

        ref = TaskRef(tool=params.name, job_id=structured["job_id"])
        task_id = self._ids.issue(ref)
        self._remember(self._launched, task_id, structured)
        # The backend has accepted the job, so tasks/get resolves from here on: the spec's "durably created".
        job = await self._inspect(ref)
        task = await self._task(task_id, ref, job)
        # What the launch said first ("Launched job 01a2...: sft on ..., flavor ..."), for the host to show while
        # the job runs: the job id is in it, for the calls a model may make meanwhile (fetch_logs, job_metrics).
        said = next((block.text for block in result.content if block.type == "text"), "").split("\n")[0]
        said = said.split(" Stage: ")[0]  # the stage follows, fresher
        if said:
            task["statusMessage"] = f"{said} {task['statusMessage']}."
        return {"resultType": "task", **task}

    async def _wait_task(self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any],
                         call_next: CallNext) -> HandlerResult:
        from ..jobs.core.models import JobsError
        from .task_ids import TaskRef
        from ..tools.base import pre_parse_json
        from ..tools.wait_for_job import Input

        try:
            args = Input.model_validate(pre_parse_json(Input, params.arguments or {}))
            backend = await self._state.backend()
            job = await backend.inspect(args.job_id)
        except (ValidationError, JobsError):
            return await call_next(ctx)  # the tool itself answers bad input and unknown jobs, as today
        if job.finished:
            return await call_next(ctx)  # nothing to wait for: the answer is immediate
        arguments = {k: v for k, v in args.model_dump(include=set(_WAIT_ARGUMENTS)).items()
                     if v != Input.model_fields[k].default}
        ref = TaskRef(tool=WAITING_TOOL, job_id=job.id, arguments=arguments)
        task_id = self._ids.issue(ref)
        task = await self._task(task_id, ref, job)
        task["statusMessage"] = f"Waiting for job {job.id} to end: {task['statusMessage']}."
        return {"resultType": "task", **task}

    # --- tasks/* ---

    def _resolve(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> TaskRef:
        require_client_extension(ctx, IDENTIFIER)
        headers = getattr(ctx.request, "headers", None)
        if headers is not None:
            # Streamable HTTP routes tasks/* by Mcp-Name, so a request whose header names another task is refused
            # rather than answered for the task in its body.
            if decode_header_value(headers.get(MCP_NAME_HEADER)) != params.task_id:
                raise MCPError(code=HEADER_MISMATCH, message=f"The {MCP_NAME_HEADER} header must equal "
                                                             "params.taskId on tasks/* requests.")
        ref = self._ids.check(params.task_id)
        if ref is None:
            raise _not_found()
        return ref

    async def _inspect(self, ref: TaskRef) -> JobInfo:
        from ..jobs.core.models import JobNotFoundError, JobsError

        try:
            return await (await self._state.backend()).inspect(ref.job_id)
        except JobNotFoundError:
            raise _not_found() from None
        except JobsError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=self._state.secrets.redact(
                f"Failed to read the task's job {ref.job_id}: {exc}")) from None

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> dict[str, Any]:
        from . import task_view as view

        ref = self._resolve(ctx, params)
        kept = self._states.read(params.task_id)
        if kept is not None:
            if _kept_expired(kept, time.time()):
                raise _not_found("Task has expired")
            return kept
        job = await self._inspect(ref)
        if view.expired(job, time.time()):
            raise _not_found("Task has expired")
        return await self._task(params.task_id, ref, job, detailed=True)

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> dict[str, Any]:
        # Our tasks never ask for input, so every response is to a request that is not outstanding: ignored.
        await self._inspect(self._resolve(ctx, params))
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> dict[str, Any]:
        ref = self._resolve(ctx, params)
        if self._states.read(params.task_id) is not None:
            return {}  # it has ended (completed or cancelled) and stays as it ended
        job = await self._inspect(ref)
        if ref.tool == WAITING_TOOL:
            # Cancelling a wait stops the waiting, not the training: the job was started by another call.
            from . import task_view as view

            now = time.time()
            message = f"Stopped waiting; job {job.id} is {job.stage.value}" + ("." if job.finished else " and runs on.")
            self._states.end(params.task_id, {
                "taskId": params.task_id, "status": "cancelled", "statusMessage": message,
                "createdAt": view.iso(job.created_at), "lastUpdatedAt": view.iso(_utc(now)),
                "ttlMs": view.ttl_ms(job, now)})
            return {}
        if not job.finished:
            from ..jobs.core.models import JobNotFoundError, JobsError
            from ..tools.cancel_job import Input, cancel_job

            try:
                await cancel_job(Input(job_id=ref.job_id), await self._state.tool_context(None))
            except JobNotFoundError:
                raise _not_found() from None
            except JobsError as exc:
                raise MCPError(code=INTERNAL_ERROR, message=self._state.secrets.redact(
                    f"Could not cancel job {ref.job_id}: {exc}")) from None
        return {}

    # --- the task object ---

    def _remember(self, store: OrderedDict[str, Any], key: str, value: Any) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > _MEMORY:
            store.popitem(last=False)

    async def _task(self, task_id: str, ref: TaskRef, job: JobInfo, *, detailed: bool = False) -> dict[str, Any]:
        from ..jobs.core.models import JobsError, JobStage
        from . import task_view as view

        now = time.time()
        ctx = await self._state.tool_context(None)
        charged, place = ctx.backend.traits.billed, ctx.backend.traits.place
        status, extra = "working", {}
        if job.stage in (JobStage.CANCELED, JobStage.DELETED) and ref.tool != WAITING_TOOL:
            status, message = "cancelled", view.status_message(job, None, now, bills=charged, place=place)
        else:
            progress = self._progress.get(task_id)
            if progress is None:
                progress = view.Progress.of(job)
            if job.stage != JobStage.SCHEDULING and not (job.finished and task_id in self._finals):
                try:
                    await progress.read(ctx.backend, job.id)
                except JobsError:
                    pass  # the log is a bonus here: the status line goes without the step and the loss
            self._remember(self._progress, task_id, progress)
            message = view.status_message(job, progress, now, bills=charged, place=place)
            plateau = ref.arguments.get("until") == "loss_plateau" and progress.report().plateau
            if job.finished or plateau:
                status = "completed"
                if detailed:
                    extra["result"] = await self._final(task_id, ref, job, progress, now, charged)
                if plateau and not job.finished:
                    message = f"The loss has flattened; {message}"
            if message != progress.last_message:
                progress.last_message, progress.changed_at = message, now
        updated = (job.finished_at if job.finished else None)
        progress = self._progress.get(task_id)
        last = view.iso(updated) if updated else (
            view.iso(_utc(progress.changed_at)) if progress and progress.changed_at else view.iso(job.created_at))
        task: dict[str, Any] = {"taskId": task_id, "status": status,
                                "statusMessage": self._state.secrets.redact(message),
                                "createdAt": view.iso(job.created_at), "lastUpdatedAt": last,
                                "ttlMs": view.ttl_ms(job, now)}
        if status == "working":
            task["pollIntervalMs"] = view.poll_interval_ms(job, now)
        if "result" in extra:
            # Its answer is made: from now on the task reads as it reads now, for every client, after a restart.
            return self._states.end(task_id, {**task, **extra})
        return {**task, **extra}

    async def _final(self, task_id: str, ref: TaskRef, job: JobInfo, progress: view.Progress, now: float,
                     charged: bool) -> dict[str, Any]:
        """The tool's answer for the ended job (or the flattened loss), kept once made: a finished job's is fixed."""
        from . import task_view as view

        if task_id in self._finals and job.finished:
            return _wire(self._finals[task_id])
        ctx = await self._state.tool_context(None)
        if ref.tool == WAITING_TOOL:
            from ..tools.wait_for_job import TOOL

            # The job has ended or its loss flattened, so the tool answers on its first look.
            result = await _tool_answer(TOOL, {"job_id": job.id, "timeout": 5, **ref.arguments},
                                        self._state, ctx)
        else:
            if not progress.complete:
                await progress.read(ctx.backend, job.id, budget=view.FINAL_READ_BUDGET_SECONDS)
            launched = self._launched.get(task_id) or _rebuilt_launch(ref.tool, job, charged)
            diagnosis = await view.diagnosis_of(ctx.backend, job)
            result = view.launch_result(job, progress.report(), diagnosis, launched, now, bills=charged,
                                        place=ctx.backend.traits.place)
            result = CallToolResult(
                content=[block.model_copy(update={"text": self._state.secrets.redact(block.text)})
                         for block in result.content if block.type == "text"],
                structured_content=self._state.secrets.redact_data(result.structured_content),
                is_error=result.is_error)
        if job.finished:
            self._remember(self._finals, task_id, result)
        return _wire(result)


async def _tool_answer(tool: Any, arguments: dict[str, Any], state: AppState, ctx: Any) -> CallToolResult:
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import TextContent

    from ..tools.base import invoke

    async def context() -> Any:
        return ctx

    try:
        return await invoke(tool, arguments, context, state.secrets)
    except ToolError as exc:  # as MCPServer answers a ToolError: an error result, not a protocol error
        return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)


def _wire(result: CallToolResult) -> dict[str, Any]:
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def _kept_expired(kept: dict[str, Any], now: float) -> bool:
    from datetime import datetime

    try:
        created = datetime.fromisoformat(str(kept["createdAt"]).replace("Z", "+00:00")).timestamp()
        return now > created + int(kept["ttlMs"]) / 1000
    except (KeyError, TypeError, ValueError):
        return False


def _utc(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def _rebuilt_launch(tool: str, job: JobInfo, charged: bool) -> dict[str, Any]:
    """What launch_training or run_job answered at launch, as far as the job record keeps it: this server did not
    launch it (a restart came between). The names of env and secrets are not kept there; the notes say so."""
    from ..jobs.core.flavors import CATALOG
    from ..jobs.core.models import format_duration

    flavor = CATALOG.get(job.flavor or "")
    price = flavor.price_per_hour if flavor else 0.0
    timeout = job.timeout or 0.0
    out: dict[str, Any] = {
        "dry_run": False, "job_id": job.id, "stage": job.stage.value, "backend": job.backend,
        "flavor": job.flavor or "", "price_per_hour": price, "timeout": format_duration(timeout) if timeout else "",
        "timeout_seconds": timeout, "cost_ceiling_usd": round(price * timeout / 3600, 4),
        "command": job.command, "env_names": [], "secret_names": [], "labels": job.labels, "url": job.url,
        "notes": ["Rebuilt from the job record after a server restart: the names of its env and secrets are not "
                  "kept there (inspect_job shows the job)."]}
    if tool == "launch_training":
        out.update(trainer=job.labels.get("trainer", ""), model=job.labels.get("model", ""),
                   dataset=job.labels.get("dataset", ""), output_dir=job.output_dir)
    else:
        out.update(kind="uv script" if job.command[:2] == ["uv", "run"] else "command", hf_command="")
    return out
