"""choose_hardware: the cheapest flavor that fits a model and a method, with the arguments to launch on it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

NAME = "choose_hardware"
TITLE = "Choose hardware"
DESCRIPTION = "Pick the cheapest hardware flavor that fits a model and a fine-tuning method, and what it costs."


def choose_hardware(
    model: Annotated[str, Field(description="A Hub id or local path, or a size such as '7B'.")],
    method: Annotated[str, Field(description="full, lora or qlora.")] = "lora",
    max_length: Annotated[str, Field(description="Tokens per training example.")] = "1024",
) -> str:
    """The conversation starter: the estimate, the alternatives, one recommendation with its launch arguments."""
    return f"""Choose hardware to fine-tune {model} with {method} at max_length={max_length}.
1. Call recommend_hardware with model={model} method={method} max_length={max_length} (if {model} is a size rather \
than a model, pass it as params). It answers the memory estimate, the cheapest flavors that fit, the cost of the \
timeout and the same estimate for the other methods.
2. Call list_hardware if you need to know which flavors this backend can run.
3. Recommend one flavor and a timeout, and say why: the memory margin, price per hour times the expected duration, \
and whether a cheaper method (lora, qlora) would fit a smaller GPU.
4. Give the launch_training arguments for it: flavor, timeout, use_peft (and extra_args={{"load_in_4bit": true}} for \
qlora), per_device_train_batch_size, gradient_accumulation_steps and max_length."""
