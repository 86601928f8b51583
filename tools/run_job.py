"""run_job: run any command or uv script as a job, as `hf jobs run` and `hf jobs uv run` do, on either backend."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from ..jobs.core.models import JobSpec, JobStage, parse_timeout
from .base import ToolContext, ToolDef, ToolInput, next_call
from .launching import (IdleTimeout, checked_schedule, idle_timeout, plan, priced_flavor, render_launch,
                                          submit)

_ARGV = Field(max_length=500)
_NAME_MAP = Field(max_length=64)


class Input(ToolInput):
    command: Annotated[list[str] | None, _ARGV, Field(
        description="argv, no shell, e.g. ['python', '-c', 'print(1)'].")] = None
    image: Annotated[str | None, Field(
        max_length=300, description="Docker image (not local); default python:3.12.")] = None
    script: Annotated[str | None, Field(
        max_length=2000, description="A uv script (URL or .py) instead of command.")] = None
    script_args: Annotated[list[str], _ARGV, Field(
        description="After the script.")] = []
    dependencies: Annotated[list[str], Field(
        max_length=100, description="uv --with packages.")] = []
    python: Annotated[str | None, Field(
        max_length=20, description="The uv script's Python.")] = None
    env: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Visible; tokens go in secrets.")] = {}
    secrets: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Only names are shown; '$HF_TOKEN': the server's token.")] = {}
    flavor: Annotated[str, Field(
        min_length=1, max_length=64,
        description="As in launch_training.")] = "cpu-basic"
    timeout: Annotated[str | int, Field(
        description="'30m', '2h', '1d' or seconds.")] = "30m"
    labels: Annotated[dict[str, str], Field(
        max_length=32, description="list_jobs filters on them.")] = {}
    idle_timeout: IdleTimeout = None
    dry_run: Annotated[StrictBool, Field(
        description="Create nothing; show the command, price and cost ceiling.")] = False
    schedule: Annotated[str | None, Field(
        max_length=100, description="Run on a schedule: '@daily' or cron '0 9 * * 1' (UTC).")] = None


class Output(BaseModel):
    dry_run: bool
    job_id: str | None = Field(default=None, description="the new job's id; null for a dry run")
    stage: JobStage | None = None
    backend: str
    kind: str = Field(description="'command' or 'uv script'")
    flavor: str
    price_per_hour: float = Field(description="USD per hour for this flavor on Hugging Face Jobs")
    timeout: str
    timeout_seconds: float
    idle_timeout: str | None = Field(default=None, description="the idle guard's limit; null: off")
    cost_ceiling_usd: float = Field(description="price_per_hour x timeout: the most this run can cost on the Hub")
    command: list[str] = Field(description="what the job runs, secret values redacted")
    image: str | None = None
    env_names: list[str]
    secret_names: list[str]
    hf_command: str = Field(description="the equivalent `hf jobs run` / `hf jobs uv run` line, secrets by name")
    labels: dict[str, str] = {}
    url: str | None = None
    notes: list[str] = []
    schedule: str | None = None
    scheduled_job_id: str | None = None
    next_run_at: datetime | None = None


async def run_job(args: Input, ctx: ToolContext) -> Output:
    flavor = await priced_flavor(ctx, args.flavor)
    schedule = checked_schedule(ctx, args.schedule)
    spec = JobSpec(command=args.command or None, image=args.image, script=args.script,
                   script_args=args.script_args, dependencies=args.dependencies, python=args.python, env=args.env,
                   secrets=args.secrets, flavor=flavor.name, timeout=parse_timeout(args.timeout),
                   idle_timeout=idle_timeout(args.idle_timeout, ctx), labels=args.labels)
    lost = ("Files the job writes stay in its container and disappear with it: have the job push what it must "
            "keep (to a Hub repo or bucket, with the HF_TOKEN secret).")
    planned = plan(ctx, spec, flavor, dry_run=args.dry_run, files_note=lost, schedule=schedule)
    launched = await submit(ctx, spec, planned)
    # A backend without a CLI of its own runs the command as it is: that is the line to type.
    return launched.answer(Output, kind="uv script" if spec.script else "command", image=spec.image,
                           hf_command=launched.hf_command or shlex.join(launched.command))


def render(out: Output) -> str:
    where = f"{out.backend} backend" + (f", image {out.image}" if out.image else "")
    # A command's output matters more than a training run's progress.
    return render_launch(out, tool="run_job", what=f"a {out.kind} on the {where}",
                         then=f"{next_call('fetch_logs', job_id=out.job_id)} to read its output, wait_for_job to wait "
                              "until it ends, or cancel_job to stop it.")


TOOL = ToolDef(
    name="run_job",
    title="Run a command or script as a job",
    description="Run a command or a uv script as a job, like `hf jobs run` / `hf jobs uv run`; returns job_id. Training: launch_training.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                open_world_hint=True),
    run=run_job,
    render=render,
)
