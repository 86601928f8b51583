"""TRL trainers -> JobSpec: the one place that knows TRL's command line.

`build_training_spec(TrainingRequest(...), traits=backend.traits, flavor=...)` checks a request against the installed
TRL (without importing it here) and returns what to run: TRL's own script for the trainer, through our entry module
where the backend runs it (`traits.entry_command`: `trl_jobs_mcp.jobs.recipes.entry` with this Python here, the copy
Ray ships on a node), else as a uv script pinned to TRL_VERSION.
"""

from .build import build_training_spec, script_url
from .distributed import Distribution, distribution_for, plan_distribution
from .request import BUILTIN_REWARD_FUNCS, TRAINERS, TRL_VERSION, APPLIES_TO, TrainingRequest
from .trl_args import all_trainer_arguments

__all__ = [
    "APPLIES_TO",
    "BUILTIN_REWARD_FUNCS",
    "Distribution",
    "TRAINERS",
    "TRL_VERSION",
    "TrainingRequest",
    "all_trainer_arguments",
    "build_training_spec",
    "distribution_for",
    "plan_distribution",
    "script_url",
]
