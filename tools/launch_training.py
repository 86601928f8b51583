"""launch_training: start a TRL trainer on a model and dataset, or show exactly what would run (dry_run)."""

from __future__ import annotations

import functools
from typing import Annotated

import anyio.to_thread
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from trl_jobs_mcp.jobs.models import JobStage, parse_timeout
from trl_jobs_mcp.jobs.recipes import TrainingRequest, build_training_spec
from trl_jobs_mcp.tools.base import ToolContext, ToolDef
from trl_jobs_mcp.tools.launching import plan, render_launch, submit

_NAME_MAP = Field(max_length=64)


class Input(TrainingRequest):
    """The training request (TRL's own argument names) plus where and how to run it."""

    flavor: Annotated[str, Field(
        min_length=1, max_length=64,
        description="Hardware, as Hugging Face Jobs names it: cpu-basic, cpu-upgrade, t4-small, a10g-large, "
                    "a100-large, h200, ... The local backend runs only what this machine has (CPU flavors, and "
                    "GPU flavors when it has GPUs); list_hardware shows which.")] = "cpu-basic"
    timeout: Annotated[str | int, Field(
        description="Stop the job after this long: '90s', '30m', '1.5h', '2d', or a number of seconds. Also "
                    "bounds the cost (price per hour x timeout).")] = "30m"
    env: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Environment variables for the job, e.g. {'WANDB_PROJECT': 'demo'}. Values are visible in "
                    "the job's details; put tokens in secrets.")] = {}
    secrets: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Secret environment variables for the job, e.g. {'HF_TOKEN': '...'}. Only their names are "
                    "ever shown; their values are scrubbed from logs and results.")] = {}
    labels: Annotated[dict[str, str], Field(
        max_length=32, description="Labels to find the job by later, e.g. {'experiment': 'lr-sweep'}; "
                                   "list_jobs filters on them.")] = {}
    dry_run: Annotated[StrictBool, Field(
        description="true: create nothing; return the exact command, the environment variable names, the "
                    "flavor with its price and the cost ceiling for the timeout.")] = False


class Output(BaseModel):
    dry_run: bool
    job_id: str | None = Field(default=None, description="the new job's id; null for a dry run")
    stage: JobStage | None = None
    backend: str
    trainer: str
    model: str
    dataset: str
    flavor: str
    price_per_hour: float = Field(description="USD per hour for this flavor on Hugging Face Jobs")
    timeout: str
    timeout_seconds: float
    cost_ceiling_usd: float = Field(description="price_per_hour x timeout: the most this run can cost")
    command: list[str] = Field(description="the job's command, secret values redacted")
    env_names: list[str]
    secret_names: list[str]
    hf_command: str | None = Field(default=None, description="the equivalent `hf jobs uv run ...` line (hf backend)")
    labels: dict[str, str] = {}
    output_dir: str | None = None
    url: str | None = None
    notes: list[str] = []


async def launch_training(args: Input, ctx: ToolContext) -> Output:
    flavor = ctx.backend.check_flavor(args.flavor)
    # In a worker thread: the first build asks a child process for the installed TRL's argument table (seconds);
    # a dry run also imports the user's reward functions in a child process, as the job would.
    # `args` is the request itself (Input subclasses TrainingRequest, validated once by the tool's plumbing).
    chosen: list[str] = []
    spec = await anyio.to_thread.run_sync(functools.partial(
        build_training_spec, args, traits=ctx.backend.traits, flavor=flavor, env=args.env, secrets=args.secrets,
        labels=args.labels, timeout=parse_timeout(args.timeout), notes=chosen, try_imports=args.dry_run))
    lost = None if args.push_to_hub else (
        "The trained model lives only in the job's container and disappears with it: set push_to_hub=true and "
        "hub_model_id to keep it.")
    planned = plan(ctx, spec, flavor, dry_run=args.dry_run, lost_files_note=lost)
    planned.notes = [*chosen, *planned.notes]  # what the recipe chose for the user comes first
    launched = await submit(ctx, spec, planned)
    return launched.answer(Output, trainer=args.trainer, model=args.model, dataset=args.dataset)


def render(out: Output) -> str:
    return render_launch(out, tool="launch_training", output_dir=out.output_dir,
                         what=f"{out.trainer} on {out.model} with {out.dataset}, {out.backend} backend")


TOOL = ToolDef(
    name="launch_training",
    title="Launch a TRL training job",
    description="Start a TRL trainer (sft, dpo, grpo, kto, reward, rloo) on a model and a dataset (Hub ids or "
                "local paths, a local .jsonl file too) with TRL's own argument names, on a hardware flavor with "
                "a timeout. Returns the job_id. Use dry_run=true first to see the exact command, the flavor's "
                "price and the cost ceiling without creating anything. Defaults suit a CPU.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                open_world_hint=True),
    run=launch_training,
    render=render,
)
