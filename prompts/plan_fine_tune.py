"""plan_fine_tune: from a goal to a running job: trainer, model, hardware and cost, checked before anything runs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

NAME = "plan_fine_tune"
TITLE = "Plan a fine-tune"
DESCRIPTION = ("Turn a goal into a TRL training job: pick the trainer, model and hardware, show the cost with a dry "
               "run, then launch and watch it.")


def plan_fine_tune(
    goal: Annotated[str, Field(description="What the model should learn, e.g. 'answer support tickets politely'.")],
    model: Annotated[str, Field(description="A Hub id or local path to start from; empty to let the assistant "
                                            "propose one.")] = "",
    dataset: Annotated[str, Field(description="A Hub id, local folder or .jsonl file; empty if still to find.")] = "",
    budget_usd: Annotated[str, Field(description="Most the run may cost, in dollars; empty for no limit.")] = "",
) -> str:
    """The conversation starter: the steps, in the order the tools expect them."""
    model_line = (f"Start from {model}." if model else
                  "Propose a small instruct model (0.5B to 1.5B parameters) to validate the recipe first.")
    dataset_line = f"Use the dataset {dataset}." if dataset else "Propose a dataset that fits the goal."
    budget_line = (f"Stay under ${budget_usd} in total." if budget_usd else
                   "Tell me the cost before anything that is billed.")
    budget_arg = f" and budget_usd={budget_usd}" if budget_usd else ""
    return f"""I want to fine-tune a model: {goal}
{model_line} {dataset_line} {budget_line}

Plan it and run it with the trl-jobs tools, in this order:
1. Trainer: sft for demonstrations (messages, or prompt + completion); dpo for chosen/rejected pairs; kto for \
thumbs-up/down examples; grpo or rloo for prompts scored by a reward function; reward to train a reward model. \
Say which columns the trainer needs and check that the dataset has them.
2. Method: LoRA (use_peft=true) unless there is a reason to train every weight; QLoRA \
(extra_args={{"load_in_4bit": true}} with use_peft=true) when memory is tight.
3. Hardware: call recommend_hardware with the model (or a family such as "Qwen/Qwen2.5" to find the largest that \
fits), the method, the dataset, num_train_epochs or max_steps, batch_size, max_length{budget_arg}; it answers the \
flavors that fit with each one's forecast duration and cost (likely and pessimistic) and which finish within the \
budget. list_hardware shows what this backend can run.
4. Dry run: call launch_training with dry_run=true and show me the plan (trainer, model, dataset, key \
hyperparameters, flavor, the forecast duration and cost, timeout, cost ceiling). If it refuses the run as too big \
for the flavor, take one of the ways out it names; if it says the timeout is too short, use the timeout it proposes. Wait for my go-ahead. Keep TRL's defaults unless there is a reason; \
a first short run (max_steps about 50) validates the setup before the long one.
5. Run: call launch_training with dry_run=false, then wait_for_job (call it again with since=next_since until the \
job has finished; until="loss_plateau" returns as soon as the loss flattens) and job_metrics for the loss curve. \
If the job fails, inspect_job names the cause and the fix."""
