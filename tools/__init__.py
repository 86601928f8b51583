"""The MCP tools, one module each. These are the conventions every tool follows; tools/base.py implements them.

1. One module per tool, named after the tool (`tools/fetch_logs.py` is `fetch_logs`). It defines:
   - `Input`: a pydantic model based on `ToolInput` (which refuses unknown arguments), a description on every
     field and bounds where a number or a list could be too big. Its fields are the tool's arguments at the top
     level of the schema an assistant sees (`inputSchema`), exactly as the model declares them: the schema is
     never written twice.
   - `Output`: a pydantic model, the structured result (`structuredContent`, with `outputSchema` from it).
   - `async def <tool_name>(args: Input, ctx: ToolContext) -> Output`: the work. It calls the backend in
     `ctx.backend`; it holds no backend logic itself and never reads the environment.
   - `def render(out: Output) -> str`: the text a model reads. It says what happened and ends with the next call
     to make, spelled as `next_call()` spells it: "Job 3f2a is RUNNING. Call fetch_logs with job_id=3f2a
     since=48213 for new lines."
   - `TOOL = ToolDef(name=..., title=..., description=..., input=Input, output=Output, annotations=...,
     run=<tool_name>, render=render)`; the annotations' title is the tool's unless given.
   What several tools share lives beside them: tools/base.py (the plumbing, field types, rendering helpers) and
   tools/launching.py (price, spending ceiling, submit and text for launch_training and run_job).
2. Honest annotations (`ToolAnnotations`, snake_case fields): tools that change nothing say `read_only_hint=True`
   (list_jobs, inspect_job, fetch_logs); `cancel_job` is `destructive_hint=True, idempotent_hint=True`;
   `launch_training` is neither read-only nor idempotent, and `open_world_hint=True` (it reaches the Hub).
   `ToolDef.read_only` comes from `read_only_hint`; read-only mode registers only those tools.
3. Errors: a tool raises the engine's errors (JobNotFoundError, InvalidJobSpec(field=...), BackendUnavailable) or
   `ToolError` for a refusal of its own. `tools.base.translate` is the one place they become the text a model
   reads: not found -> "... Call list_jobs"; InvalidJobSpec -> "field: what is wrong and what to write instead";
   a ValidationError of the Input -> one line per field with what it allows (never the rejected value);
   anything else -> logged with its traceback on stderr, and a generic message. A bad call never crashes the
   server and changes nothing.
4. Secrets: every string a tool returns (text, structured content, error) passes through `ctx.secrets`, which
   knows the server's own tokens and the values of this call's own `secrets` argument (a job's values are then
   its backend's to scrub; no call's values reach another call). Tools still return only secret *names*; the
   redaction is the net under that rule, not the rule.
5. Registration: server/app.py lists the tool modules in `tool_modules()`; a new tool is a new module plus one
   line there (and, when it needs a setting, a field on `ToolContext` filled in `AppState.tool_context`). The
   snapshot in tests/snapshots/tools.json pins names, schemas and annotations; regenerate it with
   `UPDATE_SNAPSHOTS=1 python3 -m pytest tests/test_server.py`.
"""
