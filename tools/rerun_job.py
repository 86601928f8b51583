"""rerun_job: run a job again, as it was or with changes (flavor, timeout, env, secrets, labels), or resume it."""

from __future__ import annotations

from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from ..jobs.core.models import InvalidJobSpec, JobStage, format_duration, parse_timeout
from ..jobs.extras.rerun import plan_rerun, submit_rerun
from ..jobs.recipes.request import ExtraScalar
from .base import JobId, ToolContext, ToolDef, ToolInput, next_call, usd
from .launching import budget_problem, priced_flavor

_NAME_MAP = Field(max_length=64)


class Input(ToolInput):
    job_id: JobId
    flavor: Annotated[str | None, Field(min_length=1, max_length=64, description="Other hardware.")] = None
    timeout: Annotated[str | int | None, Field(description="Another timeout, e.g. '2h'.")] = None
    env: Annotated[dict[str, str], _NAME_MAP, Field(description="Variables to add or change.")] = {}
    secrets: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Needed again for any change.")] = {}
    labels: Annotated[dict[str, str], Field(max_length=32, description="Labels to add or change.")] = {}
    resume: Annotated[StrictBool, Field(
        description="Continue a training run from its last checkpoint.")] = False
    more_steps: Annotated[int | None, Field(ge=1, description="N more steps (resume).")] = None
    args: Annotated[dict[str, ExtraScalar] | None, Field(
        description="TRL args to set.")] = None
    dry_run: Annotated[StrictBool, Field(description="Create nothing.")] = False


class Output(BaseModel):
    dry_run: bool
    rerun_of: str
    job_id: str | None = Field(default=None, description="the new job; null for a dry run")
    stage: JobStage | None = None
    as_it_was: bool = Field(description="true: nothing changed (on hf the Hub's own rerun, secrets included)")
    flavor: str
    timeout: str
    cost_ceiling_usd: float = Field(description="billed per minute, for the whole timeout")
    command: list[str] = Field(description="secret values redacted")
    secret_names: list[str]
    labels: dict[str, str] = {}
    notes: list[str] = []


async def rerun_job(args: Input, ctx: ToolContext) -> Output:
    timeout = parse_timeout(args.timeout) if args.timeout is not None else None
    flavor = ctx.backend.check_flavor(args.flavor).name if args.flavor is not None else None
    plan = await plan_rerun(ctx.backend, args.job_id, flavor=flavor, timeout=timeout, env=args.env or None,
                            secrets=args.secrets or None, labels=args.labels or None, resume=args.resume,
                            more_steps=args.more_steps, changes=args.args)
    spec = plan.spec
    chosen = await priced_flavor(ctx, spec.flavor)
    over = budget_problem(ctx, chosen, spec.timeout)
    notes = list(plan.notes)
    if over and not args.dry_run:
        raise InvalidJobSpec(over, field="timeout")
    if over:
        notes.append(f"A rerun would be refused: {over}")
    out = Output(dry_run=args.dry_run, rerun_of=args.job_id, as_it_was=plan.unchanged, flavor=chosen.name,
                 timeout=format_duration(spec.timeout), cost_ceiling_usd=round(chosen.cost(spec.timeout), 4),
                 command=spec.redacted_command(), secret_names=plan.secret_names, labels=spec.labels, notes=notes)
    if args.dry_run:
        return out
    info = await submit_rerun(ctx.backend, plan)
    return out.model_copy(update={"job_id": info.id, "stage": info.stage, "command": info.command or out.command})


def render(out: Output) -> str:
    how = "as it was" if out.as_it_was else "with changes or unknowns (see below)"
    head = (f"Dry run, nothing was created: a rerun of {out.rerun_of} {how}" if out.dry_run
            else f"Reran {out.rerun_of} {how}: new job {out.job_id} ({out.stage.value if out.stage else '?'})")
    lines = [f"{head}, on {out.flavor} with a {out.timeout} timeout (at most {usd(out.cost_ceiling_usd)}).",
             "Command: " + " ".join(out.command)]
    if out.secret_names:
        lines.append("Secrets (values never shown): " + ", ".join(out.secret_names) + ".")
    if out.labels:
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in out.labels.items()) + ".")
    lines += out.notes
    lines.append("Call rerun_job with the same arguments and dry_run=false to start it." if out.dry_run
                 else f"{next_call('wait_for_job', job_id=out.job_id)} to follow it to the end (fetch_logs for the "
                      "raw log).")
    return "\n".join(lines)


TOOL = ToolDef(
    name="rerun_job",
    title="Rerun a job",
    description="Run a job again, as it was or with changes; resume=true continues training from its last checkpoint.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                open_world_hint=True),
    run=rerun_job,
    render=render,
)
