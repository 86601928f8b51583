"""A tiny model, tokenizer and datasets built offline, for the demo and the tests.

Nothing here touches a hub: the tokenizer is a byte-level BPE trained on a few hundred generated sentences and the
model is a randomly initialised Qwen2 of about 100k parameters, so a TRL trainer runs a few steps on a CPU in
seconds. Heavy imports stay inside the functions: the server process imports this module's names without paying
for torch.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_SUBJECTS = ["the cat", "a robot", "my friend", "the river", "an engineer", "the teacher", "a small bird", "the model"]
_VERBS = ["likes", "builds", "watches", "trains", "follows", "paints", "answers", "measures"]
_OBJECTS = ["the sun", "a red box", "long sentences", "warm bread", "the loss curve", "quiet music", "a map", "stars"]


def _sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}." for _ in range(count)]


def build_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_sentences(400) + ["user", "assistant", "system"], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)


def build_model(path: Path) -> Path:
    """Write a tiny Qwen2 model and its tokenizer to `path` and return it."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    return path


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path


def build_datasets(root: Path, *, rows: int = 64) -> dict[str, Path]:
    """Small JSONL datasets in the shapes TRL's trainers read, each in its own folder as `train.jsonl`.

    Returns a map of trainer kind -> folder: "sft" (conversational `messages`), "sft_text" (`text`), "dpo"
    (`prompt`/`chosen`/`rejected`), "kto" (`prompt`/`completion`/`label`), "prompts" (`prompt`, for GRPO and RLOO).
    """
    rng = random.Random(1)
    good, bad = _sentences(rows, seed=2), _sentences(rows, seed=3)
    questions = [f"what does {rng.choice(_SUBJECTS)} do?" for _ in range(rows)]
    shapes = {
        "sft": [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
                for q, a in zip(questions, good)],
        "sft_text": [{"text": s} for s in good],
        "dpo": [{"prompt": q, "chosen": " " + a, "rejected": " " + b} for q, a, b in zip(questions, good, bad)],
        "kto": [{"prompt": q, "completion": " " + (a if i % 2 else b), "label": bool(i % 2)}
                for i, (q, a, b) in enumerate(zip(questions, good, bad))],
        "prompts": [{"prompt": q} for q in questions],
    }
    return {kind: _write_jsonl(root / kind / "train.jsonl", data).parent for kind, data in shapes.items()}


def build_all(root: Path) -> dict[str, Path]:
    """The model under root/model and the datasets under root/data; returns {"model": ..., **datasets}."""
    return {"model": build_model(root / "model"), **build_datasets(root / "data")}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trl_jobs_mcp.jobs.recipes.tiny",
                                     description="Build the tiny offline model and datasets; print their paths as JSON.")
    parser.add_argument("folder", type=Path, help="where to build them (created if missing)")
    print(json.dumps({k: str(v) for k, v in build_all(parser.parse_args().folder).items()}))
