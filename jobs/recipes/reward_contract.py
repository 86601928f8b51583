"""What TRL (1.16) hands a custom reward function and expects back, said once for a model writing one, so that it
does not guess: the server serves it as a resource (a resource costs nothing until read), and reward_funcs'
description points there."""

REWARD_CONTRACT_URI = "trl://reward-functions"

REWARD_CONTRACT = """\
A custom reward function for grpo or rloo (reward_funcs: '/abs/path/rewards.py:name' or a dotted path).

TRL calls it once per batch, with keyword arguments only, each a list with one entry per completion:

    def my_reward(completions, **kwargs) -> list[float | None]:
        ...

- completions: what the model generated. With a conversational dataset (a "prompt" column of chat messages,
  [{"role": "user", "content": "..."}]) each completion is a list of messages,
  [{"role": "assistant", "content": "..."}]: read completion[0]["content"]. With a plain-text "prompt" column each
  completion is a string.
- prompts: the prompts, in the same shape as the dataset's (messages, or strings).
- completion_ids: the generated token ids.
- every other column of the dataset by its own name (e.g. solution=[...] when the dataset has a "solution"
  column): the reference answers a reward compares against.
- trainer_state (the transformers TrainerState: global_step, ...), log_metric and log_extra: for shaping and logging.

Accept **kwargs: TRL passes more than a function names. Return one float per completion, in order (higher is
better); None leaves that completion out of this function's part of the reward. Functions may be async. Several
functions are summed (weights: extra_args reward_weights). Keep it fast and free of network calls: it runs for
every generation. The dry run imports it as the job would, so a typo fails there, before a paid run.
"""
