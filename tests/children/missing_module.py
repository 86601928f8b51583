"""Imports a module that is not installed, as a recipe with a forgotten dependency would."""

print("loading the reward functions", flush=True)
import trl_jobs_reward_helpers  # noqa: E402, F401
