"""The plumbing every tool shares: ToolDef, ToolContext, error translation, redaction, and the bridge to MCPServer.
Read tools/__init__.py first: it states the conventions this module implements."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ..jobs.core.models import BackendUnavailable, InvalidJobSpec, JobNotFoundError, JobsError, refuse_nul
from .secret_book import MAX_LINE_CHARS as MAX_LINE_CHARS  # re-exported: tests and callers import it from here
from .secret_book import SecretBook, call_secrets

if TYPE_CHECKING:
    from pathlib import Path

    from mcp.server.mcpserver.context import Context

    from ..jobs.backends.base import Backend

logger = logging.getLogger("trl_jobs_mcp.tools")

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass
class ToolContext:
    """What a tool's function may use. The server builds one per call.

    A tool needs a new setting? Add a field here and fill it in server/app.py (`AppState.tool_context`); tools
    never read the environment or the server's Settings themselves.
    """

    backend: Backend
    """The backend, known only through its protocol (jobs.backends.base): what differs between backends is in
    `backend.traits` and its methods, never in a comparison of its name."""
    secrets: SecretBook
    max_cost_usd: float | None = None
    idle_timeout: float | None = None
    """Seconds of silence and idle GPU/CPU before a launched job is stopped, when the launch does not say; None: off."""
    upload_roots: tuple[Path, ...] = ()  # folders the person allowed uploads from unasked (TRL_JOBS_UPLOAD_ROOTS)
    request: Context | None = None
    """The MCP request context (progress notifications, client logging); None when called outside a request."""
    state_home: Path | None = None  # the server's state folder (forecast calibration); None: nothing is kept


class ToolInput(BaseModel):
    """The base of every tool's Input: an unknown argument is refused by name (a misspelling is never ignored)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        refuse_nul(data)  # named here, by the tool's own field, before any value reaches a path or a job
        from ..jobs.core.strict_numbers import refuse_bool_numbers

        refuse_bool_numbers(model=cls, data=data)
        return data


@dataclass(frozen=True)
class ToolDef(Generic[InputT, OutputT]):
    """One MCP tool: its schema (the Input model), its structured result (the Output model), honest annotations
    (their title, when not given, is the tool's), the function that does the work, and the text a model reads."""

    name: str
    title: str
    description: str
    input: type[InputT]
    output: type[OutputT]
    annotations: ToolAnnotations
    run: Callable[[InputT, ToolContext], Awaitable[OutputT]]
    render: Callable[[OutputT], str]
    attachments: Callable[[OutputT], list[ContentBlock]] | None = None
    """Content blocks after the text (job_metrics' PNG as an image); they stay out of the structured result."""

    @property
    def read_only(self) -> bool:
        return bool(self.annotations.read_only_hint)


# --- errors: the one place where an exception becomes what the model reads ---

GENERIC_FAILURE = ("{tool} failed inside the server ({kind}); the details are in the server's log. Check the "
                   "arguments and try again, or call list_jobs to see whether anything changed.")


# pydantic adds the member of a union it tried to the error's location ('str-enum[JobStage]', 'int'); a reader
# needs the field, so these are dropped and the members' complaints joined.
_UNION_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "json-or-python"}


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for i, p in enumerate(loc)
             if i == 0 or isinstance(p, int) or ("[" not in p and p not in _UNION_TAGS)]
    return ".".join(parts) or "(arguments)"


def explain_validation(tool: ToolDef[Any, Any], exc: ValidationError) -> str:
    """A ValidationError as one line per field: the field, what was wrong, and what is allowed.

    The rejected values are left out on purpose: they are the caller's data and may be secrets.
    """
    fields = tool.input.model_fields
    problems: dict[str, list[str]] = {}
    expected: dict[str, str] = {}
    for err in exc.errors(include_url=False, include_input=False, include_context=True):
        loc = _field_path(err["loc"])
        top = str(err["loc"][0]) if err["loc"] else ""
        described = fields[top].description if top in fields and loc == top else None
        if err["type"] == "extra_forbidden":
            import difflib

            near = difflib.get_close_matches(top, list(fields), n=3, cutoff=0.6)
            problem = (f"not an argument of {tool.name}; "
                       + (f"did you mean {' or '.join(near)}?" if near else f"it takes: {', '.join(fields)}."))
        elif err["type"] == "missing":
            problem = "required" + (f". Expected: {described}" if described else "")
        else:
            problem = err["msg"].removeprefix("Value error, ")
            if described:
                expected[loc] = described
        said = problems.setdefault(loc, [])
        if problem not in said:
            said.append(problem)
    lines = [f"Invalid arguments for {tool.name}:"]
    lines += [f"- {loc}: {'; or '.join(said)}" + (f". Expected: {expected[loc]}" if loc in expected else "")
              for loc, said in problems.items()]
    return "\n".join(lines)


def translate(tool: ToolDef[Any, Any], exc: Exception, secrets: SecretBook) -> ToolError:
    """Turn anything a tool raised into the ToolError a model reads (and a log line for the unexpected).

    JobNotFoundError -> says so and points to list_jobs; InvalidJobSpec -> names the field and the fix;
    ValidationError -> each field and what it allows; BackendUnavailable and ToolError -> their message;
    anything else -> logged with its traceback on stderr, and a generic message that leaks nothing.
    """
    if isinstance(exc, JobNotFoundError):
        message = str(exc)
        if "list_jobs" not in message:
            message += " Call list_jobs to see the jobs that exist."
    elif isinstance(exc, ValidationError):
        message = explain_validation(tool, exc)
    elif isinstance(exc, JobsError | ToolError):
        # InvalidJobSpec already reads "field: what is wrong and what to write instead".
        message = str(exc)
        if isinstance(exc, InvalidJobSpec) and exc.field and not message.startswith(exc.field):
            message = f"{exc.field}: {message}"
        if isinstance(exc, BackendUnavailable) and not message:
            message = "The backend is unavailable right now; try again in a moment."
    else:
        # exc_text is what handlers print for the traceback: scrubbed, since an exception's message may repeat a
        # secret and clients keep our stderr. exc_info stays for in-process handlers.
        import traceback

        if logger.isEnabledFor(logging.ERROR):
            record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0,
                                       "Tool %s raised an unexpected exception", (tool.name,),
                                       (type(exc), exc, exc.__traceback__))
            record.exc_text = secrets.redact("".join(traceback.format_exception(exc)).rstrip("\n"))
            logger.handle(record)
        message = GENERIC_FAILURE.format(tool=tool.name, kind=type(exc).__name__)
    return ToolError(secrets.redact(message))


# --- the bridge to MCPServer ---


class _RawArguments(ArgModelBase):
    """Hands the call's arguments to our wrapper untouched.

    MCPServer would otherwise validate them itself and answer a bad call with pydantic's raw text (values included,
    which may be secrets). Validating inside `invoke` keeps one error format and one redaction pass for everything.
    """

    model_config = ConfigDict(extra="allow")

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.__pydantic_extra__ or {})}


def _schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    return {**model.model_json_schema(), "title": title}


def _compact(node: Any, *, in_properties: bool = False) -> Any:
    """The same schema, lighter to read: what a host puts before the model at every conversation's start.

    A property's generated title repeats its name. An optional field (`anyOf: [T, {type: null}]`, default null)
    is shown as T: leaving it out is how a model says "none", and the server still accepts an explicit null. An
    empty default ({}, [], null) or a flag's false is what an absent key means. Every type, bound, enum and
    description stays; a union stays an anyOf (a type list warns in the Inspector's strict mode; issue 25).
    """
    if isinstance(node, list):
        return [_compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {name: _compact(prop) for name, prop in node.items()}
    out = {k: _compact(v, in_properties=k in ("properties", "$defs")) for k, v in node.items() if k != "title"}
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches and out.get("default", None) is None:
        rest = [b for b in branches if b != {"type": "null"}]
        if len(rest) == 1 and not set(rest[0]) & (set(out) - {"anyOf"}):
            del out["anyOf"]
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "number"} in branches and {"type": "integer"} in branches:
        out["anyOf"] = branches = [b for b in branches if b != {"type": "integer"}]  # a number holds the integers
    if "default" in out and (out["default"] in (None, {}, []) or out["default"] is False):
        del out["default"]
    return out


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema as an assistant reads it (_compact; no docstring or title: the tool's own say them)."""
    return {k: v for k, v in _compact(model.model_json_schema()).items() if k not in ("description", "title")}


def pre_parse_json(model: type[BaseModel], arguments: dict[str, Any]) -> dict[str, Any]:
    """Some clients (Claude Desktop among them) send lists and objects as JSON text; parse those back.

    The same rule as MCPServer's own: only for fields that are not plain strings, and only when the text parses to
    a list or an object.
    """
    parsed = dict(arguments)
    for key, value in arguments.items():
        info = model.model_fields.get(key)
        if info is None or info.annotation is str or not isinstance(value, str):
            continue
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if isinstance(decoded, list | dict):
            parsed[key] = decoded
    return parsed


async def invoke(tool: ToolDef[Any, Any], arguments: dict[str, Any],
                 context: Callable[[], Awaitable[ToolContext]], secrets: SecretBook) -> CallToolResult:
    """Validate, run, redact and shape one call. Every failure leaves as a ToolError from `translate`."""
    arguments = pre_parse_json(tool.input, arguments)
    # This call's own secrets (an object, or the JSON text some clients send) scrub this call's answer and errors,
    # a validation error included; they join nothing that outlives the call.
    secrets = secrets.for_call(call_secrets(model=tool.input, arguments=arguments))
    try:
        args = tool.input.model_validate(arguments)
        result = await tool.run(args, replace(await context(), secrets=secrets))
        text = tool.render(result)
    except Exception as exc:
        raise translate(tool, exc, secrets) from None
    structured, keep = secrets.redact_model(result)
    content: list[ContentBlock] = [TextContent(type="text", text=secrets.redact(text, keep=keep))]
    if tool.attachments is not None:
        content += tool.attachments(result)
    return CallToolResult(content=content, structured_content=structured)


def as_mcp_tool(tool: ToolDef[Any, Any], context: Callable[[Context | None], Awaitable[ToolContext]],
                secrets: SecretBook) -> Tool:
    """The MCPServer Tool for `tool`: our schema at the top level, our output schema, our error handling.

    `context(request)` builds the ToolContext for a call (it may start the backend, so it can raise too).
    """

    async def call(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        return await invoke(tool, arguments, lambda: context(ctx), secrets)

    return Tool(
        fn=call, name=tool.name, title=tool.title, description=tool.description,
        # The Input model's fields at the top level of the schema an assistant sees.
        parameters=input_schema(tool.input),
        fn_metadata=FuncMetadata(arg_model=_RawArguments, output_model=tool.output,
                                 output_schema=_schema(tool.output, f"{tool.name}Output")),
        is_async=True,
        context_kwarg="ctx",
        annotations=tool.annotations.model_copy(update={"title": tool.annotations.title or tool.title}),
    )


# --- shared field types and small helpers for renderings ---

JobId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Field(
    description="The job's id.")]


def usd(amount: float) -> str:
    """Dollars for a reader: "$1.50", "$0.06", and "$0.0017" rather than a misleading "$0.00"."""
    if amount == 0 or amount >= 0.01:
        return f"${amount:,.2f}"
    return f"${amount:.2g}"


def seconds_since(moment: datetime | None, *, until: datetime | None = None) -> float | None:
    """Seconds from `moment` to `until` (default now); naive datetimes are taken as UTC."""
    if moment is None:
        return None
    until = until or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return (until - moment).total_seconds()


def human_duration(seconds: float | None) -> str:
    """72.4 -> "1m12s", 7300 -> "2h1m"; "?" when unknown."""
    if seconds is None:
        return "?"
    seconds = int(max(0, round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return "".join(shown) or "0s"


def next_call(tool: str, **arguments: Any) -> str:
    """`Call fetch_logs with job_id=3f2a since=120` - the hint that ends a rendering."""
    args = " ".join(f"{k}={v}" for k, v in arguments.items() if v is not None)
    return f"Call {tool}" + (f" with {args}" if args else "")


def png_attachment(png: bytes | None) -> list[ContentBlock]:
    """A plot as an image block beside a tool's text (none when the call drew none)."""
    if png is None:
        return []
    return [ImageContent(type="image", data=base64.b64encode(png).decode("ascii"), mime_type="image/png")]
