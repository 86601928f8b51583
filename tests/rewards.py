"""A reward function the training tests hand to GRPO as a dotted path ("tests.rewards.length_reward").

It lives in a file of its own because TRL imports it inside the job's process, by name, from the job's
working directory or PYTHONPATH: nothing of the test process reaches there.
"""

from __future__ import annotations

TARGET_CHARS = 20


def _text(completion: object) -> str:
    # Conversational datasets give a list of messages per completion; plain ones give a string.
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def length_reward(completions: list, **kwargs: object) -> list[float]:
    """1.0 for a completion of TARGET_CHARS characters, falling linearly to 0 and below as it strays."""
    return [1.0 - abs(len(_text(c)) - TARGET_CHARS) / TARGET_CHARS for c in completions]
