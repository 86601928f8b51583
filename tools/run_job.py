"""run_job: run any command or uv script as a job, as `hf jobs run` and `hf jobs uv run` do, on either backend."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Annotated

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from trl_jobs_mcp.jobs.models import JobSpec, JobStage, parse_timeout
from trl_jobs_mcp.tools.base import ToolContext, ToolDef, ToolInput
from trl_jobs_mcp.tools.launching import (IdleTimeout, checked_schedule, idle_timeout, plan, priced_flavor, render_launch,
                                          submit)

_ARGV = Field(max_length=500)
_NAME_MAP = Field(max_length=64)


class Input(ToolInput):
    command: Annotated[list[str] | None, _ARGV, Field(
        description="The job's command as a list of arguments, run without a shell, e.g. ['python', '-c', "
                    "'print(1)']. Give either command or script.")] = None
    image: Annotated[str | None, Field(
        max_length=300, description="Docker image to run command in (Hugging Face backend), e.g. 'python:3.12' "
                                    "or 'pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel'. Default python:3.12. The "
                                    "local backend runs commands directly and refuses an image.")] = None
    script: Annotated[str | None, Field(
        max_length=2000, description="A uv script to run instead of a command: a URL or a local .py file, with "
                                     "its PEP 723 inline dependencies, e.g. TRL's "
                                     "'https://raw.githubusercontent.com/huggingface/trl/v1.16.0/trl/scripts/"
                                     "sft.py'.")] = None
    script_args: Annotated[list[str], _ARGV, Field(
        description="Arguments after the script, e.g. ['--model_name_or_path', 'Qwen/Qwen3-0.6B'].")] = []
    dependencies: Annotated[list[str], Field(
        max_length=100, description="Extra packages for the uv script (uv's --with), e.g. ['trl==1.16.0'].")] = []
    python: Annotated[str | None, Field(
        max_length=20, description="Python version for the uv script, e.g. '3.12'.")] = None
    env: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Environment variables, e.g. {'PYTHONUNBUFFERED': '1'}. Values are visible in the job's "
                    "details; put tokens in secrets.")] = {}
    secrets: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Secret environment variables, e.g. {'API_KEY': '...'}. On Hugging Face, the value "
                    "'$HF_TOKEN' stands for the server's own token. Only names are ever shown.")] = {}
    flavor: Annotated[str, Field(
        min_length=1, max_length=64,
        description="Hardware, as Hugging Face Jobs names it: cpu-basic, t4-small, a10g-large, a100-large, h200, "
                    "...; list_hardware shows which this backend runs.")] = "cpu-basic"
    timeout: Annotated[str | int, Field(
        description="Stop the job after this long: '90s', '30m', '1.5h', '2d', or a number of seconds.")] = "30m"
    labels: Annotated[dict[str, str], Field(
        max_length=32, description="Labels to find the job by later, e.g. {'experiment': 'eval'}.")] = {}
    idle_timeout: IdleTimeout = None
    dry_run: Annotated[StrictBool, Field(
        description="true: create nothing; return the command, the flavor's price, the cost ceiling and the "
                    "equivalent hf jobs command line.")] = False
    schedule: Annotated[str | None, Field(
        max_length=100, description="Run on a schedule instead of now: '@daily', or cron '0 9 * * 1' (UTC).")] = None


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
    planned = plan(ctx, spec, flavor, dry_run=args.dry_run, lost_files_note=lost, schedule=schedule)
    launched = await submit(ctx, spec, planned)
    # A backend without a CLI of its own runs the command as it is: that is the line to type.
    return launched.answer(Output, kind="uv script" if spec.script else "command", image=spec.image,
                           hf_command=launched.hf_command or shlex.join(launched.command))


def render(out: Output) -> str:
    where = f"{out.backend} backend" + (f", image {out.image}" if out.image else "")
    return render_launch(out, tool="run_job", what=f"a {out.kind} on the {where}")


TOOL = ToolDef(
    name="run_job",
    title="Run a command or script as a job",
    description="Run any command (a list of arguments, optionally in a Docker image on Hugging Face) or a uv "
                "script (URL or local file, with dependencies and arguments) as a job, as `hf jobs run` and "
                "`hf jobs uv run` do, with a flavor, timeout, env, secrets and labels. Returns the job_id. For "
                "TRL training prefer launch_training, which builds the command and checks the arguments.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                open_world_hint=True),
    run=run_job,
    render=render,
)
