"""What matters in each trainer's curves: the series a verdict leads with, the ones shown by default, and which way
is better for each.

TRL's trainers log different things (TRL 1.16): DPO `rewards/accuracies` and `rewards/margins`, KTO `kl` and
`rewards/chosen|rejected`, GRPO and RLOO `reward`, `reward_std` and `rewards/<func>/mean`, the reward trainer
`accuracy` and `margin` (with `eval_` in front when evaluated). GRPO's and RLOO's loss is a policy-gradient surrogate
that sits near zero by design: it says nothing about progress, so it is shown but never judged (no best, no
divergence); their reward is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .models import Goal


@dataclass(frozen=True)
class Profile:
    lead: tuple[str, ...]
    """The series a verdict is about, in order of preference: the first one logged is the main one."""
    show: tuple[str, ...]
    """The series shown and plotted by default, when logged (`eval_<name>` of each follows it)."""
    judged_loss: bool = True
    """Whether the training loss measures progress (False for policy-gradient trainers)."""


_TAIL = ("learning_rate", "grad_norm")
PROFILES: dict[str, Profile] = {
    "sft": Profile(lead=("loss", "eval_loss"), show=("loss", "mean_token_accuracy", *_TAIL)),
    "dpo": Profile(lead=("loss", "eval_loss"),
                   show=("loss", "rewards/accuracies", "rewards/margins", *_TAIL)),
    "kto": Profile(lead=("loss", "eval_loss"),
                   show=("loss", "kl", "rewards/chosen", "rewards/rejected", "rewards/margins", *_TAIL)),
    "grpo": Profile(lead=("reward",), show=("reward", "reward_std", "kl", "completions/mean_length", "loss", *_TAIL),
                    judged_loss=False),
    "rloo": Profile(lead=("reward",), show=("reward", "reward_std", "kl", "completions/mean_length", "loss", *_TAIL),
                    judged_loss=False),
    "reward": Profile(lead=("eval_accuracy", "accuracy", "loss"),
                      show=("accuracy", "margin", "loss", *_TAIL)),
}


def goal_of(name: str, *, trainer: str | None = None) -> Goal | None:
    """Whether lower or higher is better for a series of that name in that trainer, or None when neither (a
    learning rate, a gradient norm, a spread, a KL, GRPO's surrogate loss).

    Example:
        >>> goal_of("eval_loss"), goal_of("rewards/accuracies"), goal_of("loss", trainer="grpo")
        ('min', 'max', None)
    """
    lowered = name.lower()
    profile = PROFILES.get(trainer or "")
    if profile is not None and not profile.judged_loss and lowered in ("loss", "eval_loss"):
        return None
    if lowered.endswith("loss") or "perplexity" in lowered:
        return "min"
    parts = lowered.split("/")
    if "std" in lowered or "kl" in parts or lowered.startswith(("kl", "eval_kl")):
        return None
    if lowered.endswith("rewards/rejected"):
        return "min"
    if "reward" in lowered or "accurac" in lowered or "margin" in lowered:
        return "max"
    return None


def lead_series(names: Iterable[str], *, trainer: str | None = None) -> str | None:
    """The series a verdict is about: the trainer's first lead that was logged, else a loss, else a reward."""
    names = list(names)
    profile = PROFILES.get(trainer or "")
    for preferred in (*(profile.lead if profile else ()), "loss", "train_loss", "reward", "eval_loss"):
        if preferred in names:
            return preferred
    return next((n for n in names if n.endswith("loss")), None)


def shown_series(names: Iterable[str], *, trainer: str | None = None) -> list[str] | None:
    """The series to show by default for a known trainer, in its order (each followed by its `eval_` twin, and
    GRPO's per-function rewards after the reward); None for an unknown trainer (the caller picks by kind)."""
    names = list(names)
    profile = PROFILES.get(trainer or "")
    if profile is None:
        return None
    picked: list[str] = []
    for name in profile.show:
        for candidate in (name, f"eval_{name}"):
            if candidate in names and candidate not in picked:
                picked.append(candidate)
        if name == "reward":
            picked += [n for n in names if n.startswith("rewards/") and n.endswith("/mean") and n.count("/") == 2]
    return picked
