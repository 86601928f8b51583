"""The typed training request: every field an assistant may set, with TRL's own names, bounds and descriptions.

The MCP tool's input model subclasses `TrainingRequest`, so its JSON schema is what an assistant reads. Pydantic
checks types and bounds; the checks that need context (which trainer a field belongs to, whether a path exists)
live in recipes/build.py and are raised by `build_training_spec` as `InvalidJobSpec`, never from a validator: the MCP
SDK reports an exception other than a ValidationError raised while it validates arguments as a crash and hides it.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from .trainers import DATA_FILE_SUFFIXES, TRAINER_CLASSES, TRAINERS  # noqa: F401 - re-exported

TRL_VERSION = "1.16.0"

# The reward functions TRL's grpo.py and rloo.py scripts know by name (their `reward_funcs_registry`).
BUILTIN_REWARD_FUNCS = ("accuracy_reward", "reasoning_accuracy_reward", "think_format_reward",
                        "get_soft_overlong_punishment")

# Fields that only some trainers accept, checked against the installed TRL by tests/test_recipes.py.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "max_length": ("sft", "dpo", "kto", "reward"),
    "packing": ("sft",),
    "eos_token": ("sft", "reward"),
    "beta": ("dpo", "grpo", "kto", "rloo"),
    "loss_type": ("sft", "dpo", "grpo", "kto"),
    "reward_funcs": ("grpo", "rloo"),
    "num_generations": ("grpo", "rloo"),
    "max_completion_length": ("grpo", "rloo"),
    "temperature": ("grpo", "rloo"),
    "desirable_weight": ("kto",),
    "undesirable_weight": ("kto",),
    "center_rewards_coefficient": ("reward",),
}

# Request fields whose TRL command-line name differs; every other training field is passed under its own name.
CLI_NAMES = {"model": "model_name_or_path", "dataset": "dataset_name", "dataset_split": "dataset_train_split"}

# Not TRL arguments: the recipe turns these into the spec in its own way.
NOT_CLI = ("trainer", "extra_args", "eval_fraction", "early_stopping_patience", "early_stopping_threshold")

ExtraScalar = str | float | bool  # JSON's number covers integers
ExtraValue = str | int | float | bool | list[str | int | float]


def _opt(description: str, **bounds: Any) -> Any:
    return Field(default=None, description=description, **bounds)


def closest(name: str, choices: list[str] | tuple[str, ...], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The valid names nearest to a misspelt one, best first (may be empty)."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff)


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    near = closest(name, choices)
    return f" Did you mean {' or '.join(repr(c) for c in near)}?" if near else ""


class TrainingRequest(BaseModel):
    """A TRL training run: trainer, model, dataset and hyperparameters. Unset optional fields keep TRL's defaults."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        from ..core.models import refuse_nul
        from ..core.strict_numbers import refuse_bool_numbers

        refuse_nul(data)
        refuse_bool_numbers(model=cls, data=data)
        return data

    trainer: Annotated[str, Field(
        description="sft; dpo (pairs); grpo, rloo (RL, reward_funcs); kto (binary); reward (reward model).",
        json_schema_extra={"enum": list(TRAINERS)},
    )] = "sft"
    model: Annotated[str, Field(min_length=1, max_length=500,
                                description="Hub id ('Qwen/Qwen2.5-0.5B') or local model folder.")]
    dataset: Annotated[str, Field(
        min_length=1, max_length=1000,
        description="Hub id, local folder or .jsonl/.json/.parquet/.csv file. Columns: "
                    "sft messages|text; dpo, reward prompt/chosen/rejected; kto prompt/completion/label; grpo, rloo "
                    "prompt.",
    )]
    dataset_config: Annotated[str | None, _opt("Hub subset.")]
    dataset_split: Annotated[str | None, _opt("Default 'train'.")]
    dataset_test_split: Annotated[str | None, _opt("Eval split; default 'test'.")]
    eval_fraction: Annotated[float | None, _opt("Held-out eval share of one split.", gt=0, le=0.5)]

    learning_rate: Annotated[float | None, _opt("e.g. 2e-5 full, 2e-4 LoRA.", gt=0, le=1)]
    num_train_epochs: Annotated[float | None, _opt("Ignored when max_steps is set.", gt=0, le=10000)]
    max_steps: Annotated[int | None, _opt("Optimizer steps; overrides num_train_epochs.", ge=1, le=10_000_000)]
    per_device_train_batch_size: Annotated[int | None, _opt("Examples per device per step.", ge=1, le=65536)]
    gradient_accumulation_steps: Annotated[int | None, _opt("Steps per optimizer update.", ge=1, le=65536)]
    max_length: Annotated[int | None, _opt("Tokens per example. sft, dpo, kto, reward.",
                                           ge=1, le=1_048_576)]
    packing: Annotated[StrictBool | None, _opt("sft only.")]
    eos_token: Annotated[str | None, _opt("e.g. '<|im_end|>'. sft, reward.", max_length=200)]

    logging_strategy: Annotated[Literal["no", "steps", "epoch"] | None, _opt("Log when.")]
    logging_steps: Annotated[float | None, _opt("Log every N steps (below 1: a fraction of the run).", gt=0)]
    eval_strategy: Annotated[Literal["no", "steps", "epoch"] | None, _opt("Default 'no'.")]
    eval_steps: Annotated[float | None, _opt("With eval_strategy 'steps'.", gt=0)]
    early_stopping_patience: Annotated[int | None, _opt(
        "Stop after N evals without improvement.", ge=1)]
    early_stopping_threshold: Annotated[float | None, _opt("Min gain.", ge=0)]
    save_strategy: Annotated[Literal["no", "steps", "epoch", "best"] | None, _opt("Save when.")]
    save_steps: Annotated[float | None, _opt("With save_strategy 'steps'.", gt=0)]
    seed: Annotated[int | None, _opt("Seed.", ge=0, le=2**32 - 1)]
    output_dir: Annotated[str | None, _opt(
        "Default: the job's own folder.", max_length=1000)]

    use_peft: Annotated[StrictBool | None, _opt("Train a LoRA adapter.")]
    lora_r: Annotated[int | None, _opt("With use_peft.", ge=1, le=4096)]
    lora_alpha: Annotated[int | None, _opt("With use_peft.", ge=1, le=65536)]
    lora_dropout: Annotated[float | None, _opt("With use_peft.", ge=0, lt=1)]
    lora_target_modules: Annotated[list[str] | None, Field(
        default=None, min_length=1, max_length=64, description="e.g. ['all-linear'].")]

    report_to: Annotated[Literal["none", "trackio", "tensorboard", "wandb"] | None, _opt("Default none.")]
    run_name: Annotated[str | None, _opt("Tracker run name.", max_length=200)]
    project: Annotated[str | None, _opt("Tracker project (trackio, wandb).", max_length=200)]
    push_to_hub: Annotated[StrictBool | None, _opt("Needs hub_model_id and an HF token.")]
    hub_model_id: Annotated[str | None, Field(
        default=None, max_length=200, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="'user-or-org/name'.")]
    hub_private_repo: Annotated[StrictBool | None, _opt("Default true; false (public) only if the user asks.")]

    beta: Annotated[float | None, _opt("KL coefficient. dpo, grpo, kto, rloo.", ge=0, le=1000)]
    loss_type: Annotated[str | list[str] | None, Field(
        default=None,
        description="TRL's loss names, e.g. dpo sigmoid|ipo (a list combines).")]
    reward_funcs: Annotated[list[str] | None, Field(
        default=None, min_length=1, max_length=16,
        description="grpo, rloo (required): TRL built-ins "
                    f"({', '.join(BUILTIN_REWARD_FUNCS)}), '/abs/rewards.py:func' or a dotted path (contract: "
                    "resource trl://reward-functions). Reward model: extra_args reward_model_name_or_path.")]
    num_generations: Annotated[int | None, _opt("Per prompt. grpo, rloo.", ge=2, le=1024)]
    max_completion_length: Annotated[int | None, _opt("Tokens per completion. grpo, rloo.", ge=1, le=1_048_576)]
    temperature: Annotated[float | None, _opt("grpo, rloo.", gt=0, le=100)]
    desirable_weight: Annotated[float | None, _opt("kto only.", gt=0)]
    undesirable_weight: Annotated[float | None, _opt("kto only.", gt=0)]
    center_rewards_coefficient: Annotated[float | None, _opt("reward only.", ge=0)]

    extra_args: Annotated[dict[str, ExtraValue] | list[str] | None, Field(
        default=None,
        description="Other TRL arguments by name, e.g. {'warmup_steps': 10}; checked.")]

    @field_validator("trainer", mode="before")
    @classmethod
    def _trainer_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def training_fields(self) -> dict[str, object]:
        """The TRL arguments set on this request, by request field name (unset fields left out)."""
        names = TrainingRequest.model_fields
        return {k: v for k, v in self.__dict__.items() if k in names and k not in NOT_CLI and v is not None}
