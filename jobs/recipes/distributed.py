"""Multi-GPU flavors train on all their GPUs: how many processes, and whether the model must be sharded.

A launch on a flavor with N > 1 GPUs runs TRL under `accelerate launch --num_processes N`, with one of the
accelerate configs TRL ships (trl/accelerate_configs, pinned with TRL): `multi_gpu` (data parallel, each GPU holds
the whole model) when the memory estimate (jobs.estimate, as recommend_hardware computes it) fits one GPU, else
`fsdp2` (FSDP 2: weights, gradients and optimizer states sharded across the GPUs). FSDP rather than DeepSpeed
ZeRO-3, which TRL ships too: it needs no package beyond torch and accelerate, where DeepSpeed is built from source
against torch at install time, which a uv script environment cannot do reliably.

- Here: `python -P -m accelerate.commands.launch --num_processes N --config_file <installed TRL's yaml> --module
  trl_jobs_mcp.jobs.recipes.entry <trainer> ...` (the entry module's defaults, such as the output folder, hold).
- On Hugging Face: `trl <trainer> --accelerate_config <name> --num_processes N ...` from the pinned trl release:
  TRL's CLI is accelerate launch with the same yaml (accelerate reads a config from a file, not a URL; the URL in
  the plan names the file at the release tag for a reader).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ..analysis.estimate import estimate_memory
from ..core.flavors import Flavor
from ..analysis.model_size import find_parameter_count
from ..core.models import InvalidJobSpec
from .request import TRL_VERSION, TrainingRequest

if TYPE_CHECKING:
    from ..backends.base import Backend

CONFIG_URL = "https://raw.githubusercontent.com/huggingface/trl/v{version}/trl/accelerate_configs/{name}.yaml"
# TrainingArguments' defaults, which the estimate needs when the request leaves them out.
_DEFAULT_BATCH = 8
_DEFAULT_MAX_LENGTH = 1024


class Distribution(BaseModel):
    """How a launch uses a multi-GPU flavor."""

    processes: int = Field(description="one training process per GPU")
    config: Literal["multi_gpu", "fsdp2"] = Field(description="TRL's accelerate config")
    sharded: bool = Field(description="the model is split across the GPUs (FSDP)")
    config_url: str
    reason: str

    @property
    def text(self) -> str:
        return (f"Runs on all {self.processes} GPUs: accelerate launch --num_processes {self.processes} with TRL's "
                f"{self.config} config ({self.config_url}); {self.reason}.")


def method_of(request: TrainingRequest) -> Literal["full", "lora", "qlora"]:
    if not request.use_peft:
        return "full"
    extra = request.extra_args
    names = {k.lstrip("-") for k in extra} if isinstance(extra, dict) else {
        w[2:].split("=", 1)[0] for w in extra or [] if w.startswith("--")}
    return "qlora" if "load_in_4bit" in names else "lora"


def _checkpointing(request: TrainingRequest) -> bool:
    """TRL turns gradient checkpointing on by default; extra_args may turn it off."""
    extra = request.extra_args
    if isinstance(extra, dict):
        value = extra.get("gradient_checkpointing", True)
        return str(value).lower() not in ("false", "0", "no")
    words = list(extra or [])
    return not any(w.split("=", 1)[0] == "--gradient_checkpointing" and w.endswith(("=false", "=False"))
                   for w in words)


def plan_distribution(request: TrainingRequest, *, flavor: Flavor, params: float | None) -> Distribution | None:
    """The processes and config for `flavor`; None for a flavor with one GPU or none.

    Example:
        >>> plan_distribution(TrainingRequest(trainer="sft", model="Qwen/Qwen2.5-7B", dataset="d"),
        ...                   flavor=get_flavor("rtx-pro-6000x2"), params=7.6e9).config
        'fsdp2'
    """
    if flavor.gpu_count <= 1:
        return None
    if params is None:
        config, sharded = "multi_gpu", False
        reason = "the model's size is unknown here, so it is not sharded (each GPU holds all of it)"
    else:
        method = method_of(request)
        estimate = estimate_memory(params=params, method=method,
                                   max_length=request.max_length or _DEFAULT_MAX_LENGTH,
                                   batch_size=request.per_device_train_batch_size or _DEFAULT_BATCH,
                                   gradient_checkpointing=_checkpointing(request))
        sharded = estimate.total_gb > flavor.vram_per_gpu_gb
        config = "fsdp2" if sharded else "multi_gpu"
        reason = (f"a {method} fine-tune needs about {estimate.total_gb:.0f} GB, "
                  + (f"more than one {flavor.vram_per_gpu_gb:g} GB GPU holds, so the model is sharded (FSDP)"
                     if sharded else f"which one {flavor.vram_per_gpu_gb:g} GB GPU holds: data parallel"))
    return Distribution(processes=flavor.gpu_count, config=config, sharded=sharded, reason=reason,
                        config_url=CONFIG_URL.format(version=TRL_VERSION, name=config))


async def distribution_for(request: TrainingRequest, *, flavor: Flavor, backend: Backend) -> Distribution | None:
    """plan_distribution with the model's size found as recommend_hardware finds it (jobs.model_size: config.json,
    the backend's look-up, the cache, the name); asked only for a flavor with several GPUs."""
    if flavor.gpu_count <= 1:
        return None
    try:
        params: float | None = (await find_parameter_count(model=request.model, params=None, backend=backend)).count
    except InvalidJobSpec:  # no count anywhere: not sharded, and the plan's reason says why
        params = None
    return plan_distribution(request, flavor=flavor, params=params)


def local_launcher(distribution: Distribution) -> list[str]:
    """`accelerate launch` options for this machine, with the installed TRL's yaml (no import of trl)."""
    import importlib.util

    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidJobSpec("training on several GPUs here needs TRL installed in this server's Python.",
                             field="flavor")
    config = Path(list(spec.submodule_search_locations)[0]) / "accelerate_configs" / f"{distribution.config}.yaml"
    return ["-m", "accelerate.commands.launch", "--num_processes", str(distribution.processes),
            "--config_file", str(config), "--module"]


def hub_launcher(trainer: str, distribution: Distribution) -> list[str]:
    """TRL's CLI words before the training arguments: `trl <trainer> --accelerate_config <name> --num_processes N`
    (the script, for a uv spec, is `trl`)."""
    return [trainer, "--accelerate_config", distribution.config, "--num_processes", str(distribution.processes)]
