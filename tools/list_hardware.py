"""list_hardware: every flavor with its GPU, VRAM, CPUs, RAM and price, marking those this backend can run."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, PrivateAttr, StrictBool

from ..jobs.backends.base import BackendTraits
from ..jobs.core.flavors import Flavor
from ..jobs.core.models import BackendUnavailable
from .base import ToolContext, ToolDef, ToolInput, next_call, usd


class Input(ToolInput):
    kind: Annotated[Literal["all", "cpu", "gpu"], Field(
        description="'all', 'cpu' or 'gpu' flavors.")] = "all"
    runnable_only: Annotated[StrictBool, Field(
        description="Only what this backend can run.")] = False


class Output(BaseModel):
    backend: str
    flavors: list[Flavor] = Field(description="cheapest first; runnable says whether this backend can run it")
    runnable_count: int = Field(description="how many of all flavors this backend can run")
    note: str | None = Field(default=None, description="what a flavor means on this backend, when it differs")
    account: str | None = Field(default=None, description="who the Hub token acts as: the user, and the "
                                                          "namespaces hub_model_id can use")
    can_push_to: list[str] = []
    _traits: BackendTraits | None = PrivateAttr(default=None)  # for the text; not part of the structured result


async def list_hardware(args: Input, ctx: ToolContext) -> Output:
    flavors = await ctx.backend.hardware()
    runnable = sum(1 for f in flavors if f.runnable)
    chosen = [f for f in flavors
              if (args.kind == "all" or (args.kind == "gpu") == f.is_gpu) and (f.runnable or not args.runnable_only)]
    chosen.sort(key=lambda f: (f.price_per_hour, f.gpu_count, f.name))
    try:
        account = await ctx.backend.hub_account()
    except BackendUnavailable:
        account = None  # no token yet: the flavors still answer; a launch says what is missing
    out = Output(backend=ctx.backend.name, flavors=chosen, runnable_count=runnable,
                 note=ctx.backend.traits.hardware_note, account=account.user if account else None,
                 can_push_to=list(account.writable) if account else [])
    out._traits = ctx.backend.traits
    return out


def describe(flavor: Flavor) -> str:
    """'a10g-large: 1x A10G, 24 GB VRAM, 12 vCPU, 46 GB RAM, $1.50/h'."""
    gpu = f"{flavor.gpu_count}x {flavor.gpu}, {flavor.vram_gb:g} GB VRAM" if flavor.is_gpu else "no GPU"
    return (f"{flavor.name}: {gpu}, {flavor.cpu} vCPU, {flavor.ram_gb:g} GB RAM, "
            f"{usd(flavor.price_per_hour)}/h")


def render(out: Output) -> str:
    traits = out._traits
    if not out.flavors:
        return (f"No flavor matches on the {out.backend} backend ({out.runnable_count} can run here). "
                f"{next_call('list_hardware')} without filters to see them all.")
    lines = [f"{len(out.flavors)} flavor(s), cheapest first ({out.backend} backend; "
             f"{out.runnable_count} runnable here). Prices are Hugging Face Jobs' per hour, billed by the minute"
             + (f"; runs on {traits.place} cost nothing." if traits is not None and not traits.billed else ".")]
    for flavor in out.flavors:
        mark = "" if flavor.runnable else " [not runnable on this backend]"
        lines.append(f"- {describe(flavor)}{mark}")
    if out.note:
        lines.append(out.note)
    if out.account:
        lines.append(f"Jobs run as the Hugging Face account {out.account}; hub_model_id can be "
                     f"{' or '.join(f'{ns}/<name>' for ns in out.can_push_to) or 'nothing (read-only token)'}.")
    if traits is not None and traits.runs_here and any(not f.runnable for f in out.flavors):
        lines.append(f"Flavors {traits.place} cannot hold run on Hugging Face Jobs (start the server with "
                     "--backend hf).")
    lines.append(f"{next_call('recommend_hardware', model='<model>', method='lora')} for the cheapest flavor that "
                 "fits a model, or launch_training with flavor=<name>.")
    return "\n".join(lines)


TOOL = ToolDef(
    name="list_hardware",
    title="List hardware flavors",
    description="Every flavor with GPU, VRAM, vCPUs, RAM, price per hour, and whether this backend can run it.",
    input=Input,
    output=Output,
    annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    run=list_hardware,
    render=render,
)
