"""The client side of the tasks extension, written on the SDK's ClientExtension API as a host would write it.

`TasksClient` declares `io.modelcontextprotocol/tasks` on every request and claims the `resultType: "task"` answer
of tools/call: by default `call_tool` then polls tasks/get (at the server's pollIntervalMs, or `poll` when given)
until the task ends and returns its inlined result, as Claude Code does in the background. `get` and `cancel` send
tasks/get and tasks/cancel directly; their request classes name `taskId` as the Mcp-Name parameter, so over
streamable HTTP the header the spec requires goes out with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict, Field

IDENTIFIER = "io.modelcontextprotocol/tasks"


class CreateTaskResult(Result):
    """The spec's CreateTaskResult: `resultType: "task"` and the Task's fields."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None


class DetailedTask(Result):
    """A tasks/get answer: the Task, and `result` or `error` once it ended."""

    model_config = ConfigDict(extra="allow")
    result_type: str | None = None
    task_id: str
    status: Literal["working", "input_required", "completed", "cancelled", "failed"]
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None
    poll_interval_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class Ack(Result):
    model_config = ConfigDict(extra="allow")
    result_type: str | None = None


class TaskIdParams(RequestParams):
    task_id: str = Field(alias="taskId")


class GetTaskRequest(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams
    name_param = "taskId"


class CancelTaskRequest(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams
    name_param = "taskId"


async def get(session: ClientSession, task_id: str) -> DetailedTask:
    return await session.send_request(GetTaskRequest(params=TaskIdParams(task_id=task_id)), DetailedTask)


async def cancel(session: ClientSession, task_id: str) -> None:
    await session.send_request(CancelTaskRequest(params=TaskIdParams(task_id=task_id)), Ack)


class TaskCancelled(Exception):
    def __init__(self, task: DetailedTask) -> None:
        super().__init__(task.status_message or "cancelled")
        self.task = task


class TasksClient(ClientExtension):
    """Declares the extension; resolves a task answer by polling it to the end.

    Args:
        poll: seconds between polls instead of the server's pollIntervalMs (tests use a short one).
        on_task: called with every task state seen (the CreateTaskResult, then each tasks/get), e.g. to print what
            a host would show.
    """

    identifier = IDENTIFIER

    def __init__(self, *, poll: float | None = None,
                 on_task: Callable[[CreateTaskResult | DetailedTask], Awaitable[None]] | None = None) -> None:
        self.poll = poll
        self.on_task = on_task
        self.seen: list[CreateTaskResult | DetailedTask] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=self._resolve)]

    async def _see(self, task: CreateTaskResult | DetailedTask) -> None:
        self.seen.append(task)
        if self.on_task is not None:
            await self.on_task(task)

    async def _resolve(self, created: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
        await self._see(created)
        interval = created.poll_interval_ms
        while True:
            await anyio.sleep(self.poll if self.poll is not None else (interval or 1000) / 1000)
            task = await get(ctx.session, created.task_id)
            await self._see(task)
            interval = task.poll_interval_ms or interval
            if task.status == "completed":
                assert task.result is not None
                return CallToolResult.model_validate(task.result)
            if task.status == "cancelled":
                raise TaskCancelled(task)
            if task.status == "failed":
                raise RuntimeError(f"task failed: {task.error}")
