"""TrainingRequest -> JobSpec for any backend: the one place that writes (and reads back) TRL's command line.

Every problem visible before a job exists is raised here as InvalidJobSpec naming the field and the fix, so a typo
costs nothing. Nothing here imports torch, transformers or trl: TRL's argument table comes from a child process
(see trl_args).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from ..core.flavors import Flavor
from ..core.installed import CPU_TORCH, install_command
from ..core.local_tree import refuse_broad
from ..core.models import InvalidJobSpec, JobSpec
from . import checks, evaluation
from .distributed import Distribution, hub_launcher, local_launcher
from .request import (
    APPLIES_TO,
    DATA_FILE_SUFFIXES,
    TRAINERS,
    TRL_VERSION,
    TrainingRequest,
    did_you_mean,
)
from .arguments import extra_args, extra_names, lacks_bf16, sets_precision, typed_args
from .hub import checkpoint_push, stage_token, unreachable
from .trl_args import all_trainer_arguments

if TYPE_CHECKING:
    from ..backends.base import BackendTraits

ENTRY_MODULE = "trl_jobs_mcp.jobs.recipes.entry"  # what the local backend's entry_command runs
SCRIPT_URL = "https://raw.githubusercontent.com/huggingface/trl/v{version}/trl/scripts/{trainer}.py"
_LABEL_VALUE_MAX = 63
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Report integrations -> the package each one needs in the job's environment.
_TRACKER_PACKAGES = {"trackio": "trackio", "tensorboard": "tensorboard", "wandb": "wandb"}


def script_url(trainer: str, version: str = TRL_VERSION) -> str:
    """TRL's own training script for `trainer`, pinned to a release tag."""
    return SCRIPT_URL.format(version=version, trainer=trainer)


def build_training_spec(
    request: TrainingRequest,
    *,
    traits: BackendTraits,
    flavor: Flavor,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    timeout: str | float | None = None,
    distribution: Distribution | None = None,
    staged: dict[str, str] | None = None,
    notes: list[str] | None = None,
    try_imports: bool = False,
) -> JobSpec:
    """Turn a training request into a JobSpec that runs TRL's script for its trainer.

    Args:
        request: the training request (any subclass; only TrainingRequest's fields are read).
        traits: the backend's (`backend.traits`). One with an `entry_command` gets that command (this Python's
            `-P -m trl_jobs_mcp.jobs.recipes.entry` here; a copy the backend ships elsewhere, such as Ray's, with
            TRL's pinned release as the job's dependencies) followed by `<trainer> ...`; any other gets TRL's
            script, pinned to TRL_VERSION, as a uv script. Local paths are taken only where `traits.local_paths`.
        flavor: the hardware; without a GPU the recipe turns bf16 off so TRL does not refuse to start.
        env, secrets: the job's environment; secrets are kept apart (`$HF_TOKEN` may be added for a push or trackio
            from a job that does not run here).
        labels: the caller's labels; trainer, model and dataset are added unless already set.
        timeout: "30m"-style duration or seconds (default 30 minutes).
        distribution: for a flavor with several GPUs, how to use them all (distributed.plan_distribution): TRL
            then runs under accelerate launch with that many processes and that config.
        staged: "model"/"dataset" -> the private Hub repo a local input was uploaded to (jobs/uploads.py); the job
            reads it with the HF_TOKEN secret.
        notes: if given, what the recipe chose for the user (a logging interval, a held-out split) is appended.
        try_imports: on a backend that runs here, check the user's reward functions' source (a dry run; no user
            code runs).

    Returns:
        The JobSpec, not yet submitted.

    Raises:
        InvalidJobSpec: anything that would make the job fail before training, with `field` and the fix.

    Example:
        >>> spec = build_training_spec(TrainingRequest(trainer="sft", model="Qwen/Qwen2.5-0.5B",
        ...     dataset="trl-lib/Capybara", max_steps=10), traits=backend.traits, flavor=get_flavor("cpu-basic"))
    """
    req = _revalidated(request)
    if req.trainer not in TRAINERS:
        raise InvalidJobSpec(f"unknown trainer {req.trainer!r}.{did_you_mean(req.trainer, TRAINERS)} TRL's trainers "
                             f"here are: {', '.join(TRAINERS)}.", field="trainer")
    env = dict(env or {})
    secrets = dict(secrets or {})
    _check_fields(req)
    staged = staged or {}
    if traits.runs_here:
        _check_local_stack(req)
    model = staged.get("model") or _resolve_model(req.model, traits)
    dataset, data_kind = _resolve_dataset(req.dataset, traits, staged.get("dataset"))
    stage_token(secrets, staged, traits)
    notes = notes if notes is not None else []
    evaluation.check_splits(req, data_kind, traits, notes)
    # Independent problems are told together, so that one correction fixes them all.
    checks.raise_all([
        lambda: checks.check_precision(req, flavor),
        lambda: checks.check_columns(req, checks.dataset_columns(req, dataset, data_kind,
                                                                 token=_quiet_token(env, secrets)))])
    req = checks.check_rewards(req, traits, env if try_imports and traits.runs_here else None)
    _check_hub(req, traits, env, secrets)
    _check_tracker(req, traits, secrets)

    # A job that runs here runs the TRL installed here; any other installs the pinned release.
    tables = all_trainer_arguments(installed=traits.runs_here)
    table = tables[req.trainer]
    args = typed_args(req, model, dataset, table)
    args += evaluation.eval_args(req, traits, notes)  # before extra_args, whose words then win
    args += extra_args(req, table, tables)
    logging_steps = checks.logging_steps_for(req)
    if logging_steps is not None and req.max_steps:
        args.append(f"--logging_steps={logging_steps}")
        notes.append(f"logging_steps={logging_steps} (not given): about {req.max_steps // logging_steps} logged "
                     f"points over max_steps={req.max_steps}, enough to draw a curve.")
    if not sets_precision(req.extra_args) and lacks_bf16(flavor):
        args.append("--bf16=false")
    args += checkpoint_push(bool(req.push_to_hub), extra_names(req.extra_args))

    spec_labels = {"trainer": req.trainer, "model": _model_label(req.model), "dataset": _label_value(req.dataset)}
    spec_labels.update(labels or {})
    # As the backend stores them, so the dry run's labels, its command line and list_jobs' filters agree.
    spec_labels = {key: traits.spell_label(value) for key, value in spec_labels.items()}
    common: dict[str, Any] = dict(env=env, secrets=secrets, flavor=flavor.name, labels=spec_labels)
    if timeout is not None:
        common["timeout"] = timeout

    if traits.entry_command:
        common["env"] = {**env, "PYTHONUNBUFFERED": "1"}
        output_dir = req.output_dir
        if output_dir and traits.runs_here:
            output_dir = str(Path(output_dir).expanduser().resolve())
        # Without output_dir the backend gives the job a folder through TRL_JOBS_OUTPUT_DIR (entry.py reads it).
        if output_dir:
            args.append(f"--output_dir={output_dir}")
        # A job here runs the TRL installed here; elsewhere the job's Python gets the pinned release.
        dependencies = [] if traits.runs_here else _dependencies(req)
        command = [*traits.entry_command, req.trainer, *args]
        if distribution is not None and traits.runs_here and "-m" in command:
            # accelerate launch starts one process per GPU, each running the entry module (`--module`).
            at = command.index("-m")
            command[at:at + 1] = local_launcher(distribution)
            common["env"]["PYTHONSAFEPATH"] = "1"  # accelerate's workers: no module from the working folder either
        return JobSpec(command=command, dependencies=dependencies,
                       output_dir=output_dir, **common)

    output_dir = req.output_dir or f"{req.model.rstrip('/').split('/')[-1]}-{req.trainer.upper()}"
    args.append(f"--output_dir={output_dir}")
    if distribution is not None:  # TRL's own CLI: accelerate launch with TRL's shipped config
        return JobSpec(script="trl", script_args=[*hub_launcher(req.trainer, distribution), *args],
                       dependencies=_dependencies(req), output_dir=output_dir, **common)
    return JobSpec(script=script_url(req.trainer), script_args=args, dependencies=_dependencies(req),
                   output_dir=output_dir, **common)


# --- checks ---


def _revalidated(request: TrainingRequest) -> TrainingRequest:
    """Validate the training fields again, so a request built with model_construct or mutated after validation
    still meets its bounds; the first problem becomes an InvalidJobSpec naming the field."""
    data = {name: getattr(request, name, None) for name in TrainingRequest.model_fields}
    data = {k: v for k, v in data.items() if v is not None or k in ("model", "dataset")}
    try:
        return TrainingRequest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or None
        raise InvalidJobSpec(f"{error['msg']} (got {error.get('input')!r}).", field=field) from None


def _check_fields(req: TrainingRequest) -> None:
    for name, trainers in APPLIES_TO.items():
        if getattr(req, name) is not None and req.trainer not in trainers:
            raise InvalidJobSpec(f"does not apply to the {req.trainer} trainer; it applies to "
                                 f"{', '.join(trainers)}. Remove it or pick one of those trainers.", field=name)
    if isinstance(req.loss_type, list) and req.trainer != "dpo":
        raise InvalidJobSpec(f"the {req.trainer} trainer takes one loss type, not a list (only dpo combines "
                             "several).", field="loss_type")
    if not req.use_peft:
        for name in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"):
            if getattr(req, name) is not None:
                raise InvalidJobSpec("is a LoRA setting and has no effect without LoRA; set use_peft=true to train "
                                     "an adapter, or remove it.", field=name)
    if req.eval_steps is not None and req.eval_strategy in (None, "no"):
        raise InvalidJobSpec("has no effect while eval_strategy is 'no' (the default); set eval_strategy='steps'.",
                             field="eval_steps")
    if req.save_steps is not None and req.save_strategy not in (None, "steps"):
        raise InvalidJobSpec(f"has no effect with save_strategy={req.save_strategy!r}; use save_strategy='steps'.",
                             field="save_steps")


def _looks_like_path(value: str) -> bool:
    return (value.startswith(("/", "./", "../", "~", "\\")) or os.path.exists(os.path.expanduser(value))
            or value.lower().endswith(DATA_FILE_SUFFIXES) or bool(re.match(r"^[A-Za-z]:[\\/]", value)))


def _resolve_model(model: str, traits: BackendTraits) -> str:
    if not _looks_like_path(model):
        if not _HUB_ID.match(model):
            raise InvalidJobSpec(f"{model!r} is neither a Hub model id ('org/name') nor an existing local folder.",
                                 field="model")
        return model
    path = Path(model).expanduser()
    if not path.exists():
        raise InvalidJobSpec(f"no such folder: {model!r}. Give an existing local model folder or a Hub id such as "
                             "'Qwen/Qwen2.5-0.5B'.", field="model")
    refuse_broad(path, field="model")
    if not path.is_dir():
        raise InvalidJobSpec(f"{model!r} is a file; a model is a folder holding config.json and the weights "
                             "(as save_pretrained writes it), or a Hub id.", field="model")
    if not traits.local_paths:
        raise unreachable(model, field="model", traits=traits)
    return str(path.resolve())


def _resolve_dataset(dataset: str, traits: BackendTraits,
                     staged: str | None = None) -> tuple[str, Literal["hub", "dir", "file"]]:
    if staged:
        return staged, "file" if Path(dataset).expanduser().is_file() else "dir"
    if not _looks_like_path(dataset):
        if not _HUB_ID.match(dataset):
            raise InvalidJobSpec(f"{dataset!r} is neither a Hub dataset id ('org/name') nor an existing local file "
                                 "or folder.", field="dataset")
        return dataset, "hub"
    path = Path(dataset).expanduser()
    if not path.exists():
        raise InvalidJobSpec(f"no such file or folder: {dataset!r}. Give an existing local "
                             f"{'/'.join(DATA_FILE_SUFFIXES)} file or dataset folder, or a Hub dataset id.",
                             field="dataset")
    refuse_broad(path, field="dataset")
    if path.is_file() and path.suffix.lower() not in DATA_FILE_SUFFIXES:
        raise InvalidJobSpec(f"cannot read a {path.suffix or 'suffix-less'} file as a dataset; use a "
                             f"{', '.join(DATA_FILE_SUFFIXES)} file or a folder of them.", field="dataset")
    if not traits.local_paths:
        raise unreachable(dataset, field="dataset", traits=traits)
    return str(path.resolve()), "file" if path.is_file() else "dir"


def _quiet_token(env: dict[str, str], secrets: dict[str, str]) -> str | None:
    """The token for reading a private dataset's card; a placeholder or no token at all is just no token."""
    token = secrets.get("HF_TOKEN") or env.get("HF_TOKEN")
    return token if token and not token.startswith("$") else None


def _hf_token(env: dict[str, str], secrets: dict[str, str]) -> str | None:
    token = secrets.get("HF_TOKEN") or env.get("HF_TOKEN") or os.environ.get("HF_TOKEN")
    if token:
        return token
    from huggingface_hub import get_token

    return get_token()


def _check_hub(req: TrainingRequest, traits: BackendTraits, env: dict[str, str], secrets: dict[str, str]) -> None:
    if not req.push_to_hub:
        return
    if not req.hub_model_id:
        raise InvalidJobSpec("push_to_hub needs hub_model_id, the repository to push to, as 'user-or-org/name'.",
                             field="hub_model_id")
    if not traits.runs_here:
        # The job cannot see this machine's login, so the token travels as a secret. The placeholder lets
        # the backend put in the token it is configured with (it has one, or it could launch nothing); the value
        # never passes through the recipe.
        secrets.setdefault("HF_TOKEN", "$HF_TOKEN")
        return
    if not _hf_token(env, secrets):
        raise InvalidJobSpec("push_to_hub needs a Hugging Face token with write access: pass it as the secret "
                             "HF_TOKEN, or log in on this machine (`hf auth login`).", field="push_to_hub")


# What training on this machine imports. A job elsewhere installs its own (its uv dependencies), so only a job that
# runs here needs them in this interpreter.
def local_extra_hint() -> str:
    """How to add [local] (TRL, torch, peft) to this install, in the words of how it was installed."""
    return (f"install the [local] extra (TRL, torch and peft): {install_command(extras='local')}, then restart the "
            f"server. On Linux without an NVIDIA GPU take the CPU build of torch first: {CPU_TORCH} (install.py "
            "in a checkout does both)")


def _check_local_stack(req: TrainingRequest) -> None:
    missing = [m for m in ("trl", "torch", "transformers", "datasets") if importlib.util.find_spec(m) is None]
    if missing:
        raise InvalidJobSpec(f"training on this machine needs {', '.join(missing)}, which this server's Python "
                             f"({sys.executable}) does not have: {local_extra_hint()}. Nothing was created.",
                             field="trainer")
    if req.use_peft and importlib.util.find_spec("peft") is None:
        raise InvalidJobSpec("LoRA on this machine needs the peft package, which this server's Python does not "
                             f"have: {local_extra_hint()}. Nothing was created.", field="use_peft")


def _check_tracker(req: TrainingRequest, traits: BackendTraits, secrets: dict[str, str]) -> None:
    tracker = req.report_to
    if tracker in (None, "none"):
        return
    package = _TRACKER_PACKAGES[tracker]
    if traits.runs_here and importlib.util.find_spec(package) is None:
        raise InvalidJobSpec(f"report_to={tracker!r} needs the {package} package, which is not installed here: "
                             f"`pip install {package}`, or use report_to='none'.", field="report_to")
    if not traits.runs_here and tracker == "trackio" and "HF_TOKEN" not in secrets:
        # trackio away from this machine logs to a Space of the user's, which needs their token inside the container.
        secrets["HF_TOKEN"] = "$HF_TOKEN"
    if not traits.runs_here and tracker == "wandb" and "WANDB_API_KEY" not in secrets:
        raise InvalidJobSpec(f"report_to='wandb' on {traits.place} needs your W&B key as the secret "
                             "WANDB_API_KEY.", field="report_to")


def _dependencies(req: TrainingRequest) -> list[str]:
    deps = [f"trl=={TRL_VERSION}"]
    if req.use_peft:
        deps.append("peft")
    if extra_names(req.extra_args) & {"load_in_4bit", "load_in_8bit"}:
        deps.append("bitsandbytes")  # QLoRA: transformers quantizes through it
    if req.report_to in _TRACKER_PACKAGES:
        deps.append(_TRACKER_PACKAGES[req.report_to])
    if {"accuracy_reward", "reasoning_accuracy_reward"} & set(req.reward_funcs or []):
        deps.append("math-verify")
    return deps


def _model_label(model: str) -> str:
    """A model trained by an earlier local job (<home>/jobs/<id>/output) is named by that job: its model label and
    trainer ('tiny-sft'), or 'job-<id>'; any other model as _label_value names it."""
    path = Path(model).expanduser()
    spec_file = path.parent / "spec.json"
    if _looks_like_path(model) and path.name == "output" and spec_file.is_file():
        import json

        try:
            record = json.loads(spec_file.read_text(encoding="utf-8"))
            labels = (record.get("spec") or record).get("labels") or {}  # the local backend's record holds the spec
        except (OSError, ValueError, AttributeError):
            labels = {}
        if labels.get("model") and labels.get("trainer"):
            return f"{labels['model']}-{labels['trainer']}"[:_LABEL_VALUE_MAX]
        return f"job-{path.parent.name}"[:_LABEL_VALUE_MAX]
    return _label_value(model)


def _label_value(value: str) -> str:
    """A label-sized name: the last path part of a local path, and at most 63 characters."""
    if _looks_like_path(value):
        value = Path(value).name or value
    return value[:_LABEL_VALUE_MAX]
