"""launch_training: start a TRL trainer on a model and dataset, or show exactly what would run (dry_run)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated

import anyio.to_thread
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, StrictBool

from ..jobs.analysis.calibration import CalibrationStore
from ..jobs.analysis.forecast import Forecast
from ..jobs.analysis.preflight import preflight
from ..jobs.core.models import InvalidJobSpec, JobStage, parse_timeout
from ..jobs.recipes import TrainingRequest, build_training_spec, distribution_for
from ..jobs.recipes.request import ExtraScalar
from ..jobs.extras.uploads import LocalUpload, stage_local_inputs, upload_local_inputs
from .base import ToolContext, ToolDef, next_call
from .consent import agree_to_uploads
from .hub_push import check_push
from .launching import (IdleTimeout, checked_schedule, idle_timeout, plan, priced_flavor, render_launch,
                                          submit)
from .sweeping import SweepRun, launch_sweep, render_sweep

_NAME_MAP = Field(max_length=64)


class Input(TrainingRequest):
    """The training request (TRL's own argument names) plus where and how to run it."""

    flavor: Annotated[str, Field(
        min_length=1, max_length=64,
        description="Hardware, e.g. cpu-basic, a10g-large, h200 (list_hardware).")] = "cpu-basic"
    timeout: Annotated[str | int, Field(
        description="'30m', '2h', '1d' or seconds.")] = "30m"
    env: Annotated[dict[str, str], _NAME_MAP, Field(
        description="Visible; tokens go in secrets.")] = {}
    secrets: Annotated[dict[str, str], _NAME_MAP, Field(description="Only their names are ever shown.")] = {}
    labels: Annotated[dict[str, str], Field(max_length=32, description="list_jobs filters on them.")] = {}
    idle_timeout: IdleTimeout = None
    workers: Annotated[int, Field(ge=1, description="Workers, each on the flavor's hardware, across nodes.")] = 1
    dry_run: Annotated[StrictBool, Field(
        description="Create nothing; show the command, price, cost ceiling and checks.")] = False
    upload_local_data: Annotated[StrictBool, Field(
        description="Ask the user to upload local data/model to a private Hub repo.")] = False
    schedule: Annotated[str | None, Field(
        max_length=100, description="Run on a schedule: '@daily' or cron '0 9 * * 1' (UTC).")] = None
    sweep: Annotated[dict[str, list[ExtraScalar]] | None, Field(
        description="TRL arg -> values: a grid, <=16 runs.")] = None


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
    idle_timeout: str | None = Field(default=None, description="the idle guard's limit; null: off")
    cost_ceiling_usd: float = Field(description="price_per_hour x timeout: the most this run can cost")
    command: list[str] = Field(description="the job's command, secret values redacted")
    env_names: list[str]
    secret_names: list[str]
    hf_command: str | None = Field(default=None, description="the equivalent `hf jobs uv run ...` line (hf backend)")
    labels: dict[str, str] = {}
    output_dir: str | None = None
    url: str | None = None
    notes: list[str] = []
    uploads: list[LocalUpload] = Field(default=[], description="local inputs and the private repos they go to")
    schedule: str | None = None
    scheduled_job_id: str | None = None
    next_run_at: datetime | None = None
    experiment: str | None = Field(default=None, description="a sweep's experiment id (label experiment)")
    runs: list[SweepRun] = Field(default=[], description="a sweep's runs; cost_ceiling_usd is their sum")
    forecast: Forecast | None = Field(default=None, description="duration and cost, likely and pessimistic")
    memory_gb: float | None = Field(default=None, description="estimated memory need per GPU")


async def launch_training(args: Input, ctx: ToolContext) -> Output:
    if args.sweep is not None:
        return await launch_sweep(args, ctx, launch_training)
    flavor = await priced_flavor(ctx, args.flavor)
    schedule = checked_schedule(ctx, args.schedule)
    # A flavor with several GPUs trains on all of them; the memory estimate says whether the model is sharded.
    distribution = await distribution_for(args, flavor=flavor, backend=ctx.backend)
    # Fit, forecast and timeout, the same for a dry run and a launch: a run that cannot fit is refused by both.
    store = CalibrationStore(ctx.state_home) if ctx.state_home else None
    pre = await preflight(args, flavor=flavor, backend=ctx.backend, timeout_s=parse_timeout(args.timeout),
                          default_timeout="timeout" not in args.model_fields_set, store=store)
    if pre.refusal:
        raise InvalidJobSpec(pre.refusal, field="flavor")
    # Planned only (sizes, screens, repo names): nothing is read in full or uploaded before the request has passed
    # every check below and the user has agreed.
    uploads = await stage_local_inputs(ctx.backend, model=args.model, dataset=args.dataset,
                                       consent=args.upload_local_data, dry_run=True)
    # In a worker thread: the first build asks a child process for the installed TRL's argument table (seconds);
    # a dry run also reads (never runs) the user's reward functions.
    # `args` is the request itself (Input subclasses TrainingRequest, validated once by the tool's plumbing).
    chosen: list[str] = []
    spec = await anyio.to_thread.run_sync(functools.partial(
        build_training_spec, args, traits=ctx.backend.traits, flavor=flavor, env=args.env, secrets=args.secrets,
        labels=args.labels, timeout=parse_timeout(args.timeout), distribution=distribution,
        staged={u.field: u.repo_id for u in uploads}, notes=chosen, try_imports=args.dry_run))
    if args.workers > 1 and not ctx.backend.traits.multi_node:
        raise InvalidJobSpec(f"{ctx.backend.traits.place} runs a training run as one process on one machine; use a "
                             "flavor with more GPUs, or leave workers at 1.", field="workers")
    spec = spec.model_copy(update={"idle_timeout": idle_timeout(args.idle_timeout, ctx), "workers": args.workers})
    # The recipe refused a push without hub_model_id.
    files = (await check_push(ctx, repo_id=str(args.hub_model_id), private=args.hub_private_repo,
                              dry_run=args.dry_run) if args.push_to_hub
             else "The trained model lives only in the job's container and disappears with it: set push_to_hub=true "
                  "and hub_model_id to keep it (and its checkpoints, to resume a stopped run).")
    pushed = (f"Checkpoints are pushed to {args.hub_model_id} as they are saved (hub_strategy='checkpoint'): if "
              "the run is stopped, rerun_job with resume=true continues from the last one.")
    planned = plan(ctx, spec, flavor, dry_run=args.dry_run, files_note=files,
                   notes=[pushed] if args.push_to_hub else [], schedule=schedule)
    if args.push_to_hub and ctx.backend.traits.keeps_files:
        planned.notes.insert(0, files)  # where the backend keeps files, the push is said all the same
    if args.dry_run and not planned.output_dir and ctx.backend.traits.keeps_files:
        planned.notes.append("The trained model will be saved in the job's own output folder, named with its "
                             "job_id at launch; wait_for_job and inspect_job give its path once it is done.")
    if distribution is not None:
        planned.notes.append(distribution.text)
    planned.notes = [*chosen, *pre.notes, *planned.notes]  # what the recipe chose for the user comes first
    planned.uploads = uploads
    agreed = await agree_to_uploads(ctx, uploads, dry_run=args.dry_run)
    if agreed:
        planned.notes.append(agreed)
    if uploads and not args.dry_run:  # the plan passed the spending ceiling and the user agreed: now they happen
        planned.uploads = await upload_local_inputs(ctx.backend, uploads)
    launched = await submit(ctx, spec, planned)
    if store is not None and launched.job_id and pre.forecast and pre.settings:
        store.remember(launched.job_id, forecast=pre.forecast, settings=pre.settings)  # compared when it ends
    return launched.answer(Output, trainer=args.trainer, model=args.model, dataset=args.dataset,
                           forecast=pre.forecast, memory_gb=pre.memory_gb)


def render(out: Output) -> str:
    if out.runs:
        return render_sweep(out, what=f"{out.trainer} on {out.model} with {out.dataset}, {out.backend} backend")
    return render_launch(out, tool="launch_training", output_dir=out.output_dir, uploads=out.uploads,
                         what=f"{out.trainer} on {out.model} with {out.dataset}, {out.backend} backend",
                         then=f"{next_call('wait_for_job', job_id=out.job_id)} to follow it to the end (step, loss, "
                              "where the model lands).")


TOOL = ToolDef(
    name="launch_training",
    title="Launch a TRL training job",
    description="Start a TRL trainer on a model and dataset (Hub ids or local paths), TRL's argument names; returns job_id. dry_run=true first shows command and cost.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                open_world_hint=True),
    run=launch_training,
    render=render,
)
