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

# The trainers, each with the TRL class its script trains (the job-side entry point runs that class).
TRAINER_CLASSES = {"sft": "SFTTrainer", "dpo": "DPOTrainer", "grpo": "GRPOTrainer", "kto": "KTOTrainer",
                   "reward": "RewardTrainer", "rloo": "RLOOTrainer"}
TRAINERS = tuple(TRAINER_CLASSES)
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
NOT_CLI = ("trainer", "extra_args")

DATA_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")

ExtraValue = str | int | float | bool | list[str | int | float]


def _opt(description: str, **bounds: float) -> object:
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
        from trl_jobs_mcp.jobs.models import refuse_nul

        refuse_nul(data)
        return data

    trainer: Annotated[str, Field(
        description="TRL trainer: sft (supervised fine-tuning), dpo (preference pairs), grpo (online RL with reward "
                    "functions), kto (binary feedback), reward (reward model), rloo (online RL, leave-one-out).",
        json_schema_extra={"enum": list(TRAINERS)},
    )] = "sft"
    model: Annotated[str, Field(
        min_length=1, max_length=500,
        description="Model to train: a Hugging Face Hub id such as 'Qwen/Qwen2.5-0.5B' or a local model folder.",
    )]
    dataset: Annotated[str, Field(
        min_length=1, max_length=1000,
        description="Training data: a Hub dataset id such as 'trl-lib/Capybara', a local dataset folder, or a local "
                    ".jsonl/.json/.parquet/.csv file. Columns must match the trainer (sft: messages or text; dpo: "
                    "prompt/chosen/rejected; kto: prompt/completion/label; grpo and rloo: prompt; reward: "
                    "chosen/rejected).",
    )]
    dataset_config: Annotated[str | None, _opt("Dataset configuration (subset) name on the Hub.")]
    dataset_split: Annotated[str | None, _opt("Split to train on (TRL's dataset_train_split); default 'train'.")]
    dataset_test_split: Annotated[str | None, _opt(
        "Split to evaluate on when eval_strategy is not 'no'; default 'test'.")]

    learning_rate: Annotated[float | None, _opt("Peak learning rate, e.g. 2e-5 for full SFT, 2e-4 with LoRA.",
                                                gt=0, le=1)]
    num_train_epochs: Annotated[float | None, _opt("Passes over the dataset; ignored when max_steps is set.",
                                                   gt=0, le=10000)]
    max_steps: Annotated[int | None, _opt("Stop after this many optimizer steps (overrides num_train_epochs).",
                                          ge=1, le=10_000_000)]
    per_device_train_batch_size: Annotated[int | None, _opt("Examples per device per step.", ge=1, le=65536)]
    gradient_accumulation_steps: Annotated[int | None, _opt("Steps to accumulate before each optimizer update.",
                                                            ge=1, le=65536)]
    max_length: Annotated[int | None, _opt("Maximum tokens per example; longer ones are truncated. "
                                           "sft, dpo, kto, reward.", ge=1, le=1_048_576)]
    packing: Annotated[StrictBool | None, _opt("Pack several examples into each max_length sequence. sft only.")]
    eos_token: Annotated[str | None, _opt("End-of-sequence token to use instead of the tokenizer's, e.g. "
                                          "'<|im_end|>'. sft, reward.", max_length=200)]

    logging_strategy: Annotated[Literal["no", "steps", "epoch"] | None, _opt("When to log metrics.")]
    logging_steps: Annotated[float | None, _opt("Log every N steps (a value below 1 is a fraction of the run).",
                                                gt=0)]
    eval_strategy: Annotated[Literal["no", "steps", "epoch"] | None, _opt(
        "When to evaluate on dataset_test_split; default 'no'.")]
    eval_steps: Annotated[float | None, _opt("Evaluate every N steps when eval_strategy is 'steps'.", gt=0)]
    save_strategy: Annotated[Literal["no", "steps", "epoch", "best"] | None, _opt("When to save checkpoints.")]
    save_steps: Annotated[float | None, _opt("Save a checkpoint every N steps when save_strategy is 'steps'.",
                                             gt=0)]
    seed: Annotated[int | None, _opt("Random seed.", ge=0, le=2**32 - 1)]
    output_dir: Annotated[str | None, _opt(
        "Where the trained model goes. Default: the job's own output folder (local) or a folder in the container "
        "(hf; use push_to_hub to keep the result).", max_length=1000)]

    use_peft: Annotated[StrictBool | None, _opt("Train a LoRA adapter instead of all weights (needs peft).")]
    lora_r: Annotated[int | None, _opt("LoRA rank (needs use_peft).", ge=1, le=4096)]
    lora_alpha: Annotated[int | None, _opt("LoRA alpha (needs use_peft).", ge=1, le=65536)]
    lora_dropout: Annotated[float | None, _opt("LoRA dropout (needs use_peft).", ge=0, lt=1)]
    lora_target_modules: Annotated[list[str] | None, Field(
        default=None, min_length=1, max_length=64,
        description="Module names to adapt, e.g. ['q_proj', 'v_proj'] or ['all-linear'] (needs use_peft).")]

    report_to: Annotated[Literal["none", "trackio", "tensorboard", "wandb"] | None, _opt(
        "Where to send metrics besides the log; default none.")]
    run_name: Annotated[str | None, _opt("Run name shown by the tracker.", max_length=200)]
    project: Annotated[str | None, _opt("Tracker project name (trackio, wandb).", max_length=200)]
    push_to_hub: Annotated[StrictBool | None, _opt("Push the trained model to the Hub at the end (needs hub_model_id "
                                             "and a Hugging Face token).")]
    hub_model_id: Annotated[str | None, Field(
        default=None, max_length=200, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
        description="Hub repository to push to, as 'user-or-org/name'.")]

    beta: Annotated[float | None, _opt("KL coefficient against the reference model. dpo, grpo, kto, rloo.",
                                       ge=0, le=1000)]
    loss_type: Annotated[str | list[str] | None, Field(
        default=None,
        description="Loss variant, as TRL names it: sft 'nll'|'dft'|'chunked_nll'; dpo 'sigmoid', 'ipo', "
                    "'hinge', ... (a list combines several); grpo 'grpo'|'dapo'|'dr_grpo'|'bnpo'|...; kto "
                    "'kto'|'apo_zero_unpaired'.")]
    reward_funcs: Annotated[list[str] | None, Field(
        default=None, min_length=1, max_length=16,
        description="Reward functions (grpo, rloo; required there): TRL's built-ins "
                    f"({', '.join(BUILTIN_REWARD_FUNCS)}), your own as a file path '/abs/rewards.py:func' (local "
                    "backend) or a dotted import path on PYTHONPATH. A reward model instead goes in extra_args as "
                    "reward_model_name_or_path.")]
    num_generations: Annotated[int | None, _opt("Completions sampled per prompt. grpo, rloo.", ge=2, le=1024)]
    max_completion_length: Annotated[int | None, _opt("Maximum tokens per sampled completion. grpo, rloo.",
                                                      ge=1, le=1_048_576)]
    temperature: Annotated[float | None, _opt("Sampling temperature. grpo, rloo.", gt=0, le=100)]
    desirable_weight: Annotated[float | None, _opt("Weight of desirable examples' loss. kto only.", gt=0)]
    undesirable_weight: Annotated[float | None, _opt("Weight of undesirable examples' loss. kto only.", gt=0)]
    center_rewards_coefficient: Annotated[float | None, _opt(
        "Pushes the reward model's outputs toward mean zero. reward only.", ge=0)]

    extra_args: Annotated[dict[str, ExtraValue] | list[str] | None, Field(
        default=None,
        description="Any other argument TRL's script for this trainer accepts, by TRL's name: a map such as "
                    "{'warmup_steps': 10, 'lr_scheduler_type': 'cosine', 'gradient_checkpointing': true}, or raw "
                    "command-line words such as ['--warmup_steps', '10']. Checked against the installed TRL "
                    "before launch.")]

    @field_validator("trainer", mode="before")
    @classmethod
    def _trainer_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def training_fields(self) -> dict[str, object]:
        """The TRL arguments set on this request, by request field name (unset fields left out)."""
        names = TrainingRequest.model_fields
        return {k: v for k, v in self.__dict__.items() if k in names and k not in NOT_CLI and v is not None}
