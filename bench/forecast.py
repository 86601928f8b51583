"""Forecast against actual duration, on this machine: tiny SFT, DPO and GRPO jobs of three model sizes, run one at
a time on the local backend through launch_training (which forecasts and remembers the forecast) and inspect_job
(which settles the finished job into the calibration). Not a test: it prints a table and ratios.

    python bench/forecast.py [--rounds 3] [--steps 16]

Round 1 forecasts from the first guess (this machine's vCPUs, no calibration); round 2 from one finished run of
each kind; round 3 from two. Goal: forecast / actual within 0.5-2x in round 1, within 0.8-1.25x after two runs.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trl_jobs_mcp.jobs.backends.local import LocalBackend  # noqa: E402
from trl_jobs_mcp.tools import inspect_job, launch_training  # noqa: E402
from trl_jobs_mcp.tools.base import SecretBook, ToolContext  # noqa: E402

# (hidden size, layers) of the three tiny Qwen2 models: about 0.1M, 11M and 57M parameters.
SIZES = {"S": (64, 2), "M": (384, 6), "L": (768, 8)}
BUILD = """
import json, sys
from pathlib import Path
from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
from trl_jobs_mcp.jobs.recipes.tiny import build_datasets, build_tokenizer
root, sizes, out = Path(sys.argv[1]), json.loads(sys.argv[2]), {}
for name, (hidden, layers) in sizes.items():
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(path)
    tok = AutoTokenizer.from_pretrained(path)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(path)
    out[name] = str(path)
out.update({k: str(v) for k, v in build_datasets(root / "data").items()})
print(json.dumps(out))
"""


def build(root: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", BUILD, str(root), json.dumps(SIZES)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


REWARD = "def short(completions, **kwargs):\n    return [-len(str(c)) / 100 for c in completions]\n"


def requests(paths: dict[str, str], steps: int, sizes: list[str]) -> list[tuple[str, dict]]:
    common = dict(max_steps=steps, per_device_train_batch_size=2, logging_steps=4, save_strategy="no",
                  report_to="none", env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    runs = []
    for size in sizes:
        model = paths[size]
        runs.append((f"sft-{size}", dict(trainer="sft", model=model, dataset=paths["sft"], **common)))
        runs.append((f"dpo-{size}", dict(trainer="dpo", model=model, dataset=paths["dpo"], max_length=64, **common)))
        runs.append((f"grpo-{size}", dict(trainer="grpo", model=model, dataset=paths["prompts"],
                                          reward_funcs=[f"{paths['reward']}:short"], num_generations=2,
                                          max_completion_length=8, **common)))
    return runs


async def one(ctx: ToolContext, args: dict) -> tuple[float, float, str | None, str]:
    """(forecast likely seconds, actual seconds, calibrated, stage) of one run, launched and waited for."""
    out = await launch_training.launch_training(launch_training.Input(**args), ctx)
    try:
        while True:
            info = await ctx.backend.inspect(out.job_id)
            if info.finished:
                break
            await anyio.sleep(0.5)
    finally:
        if not (await ctx.backend.inspect(out.job_id)).finished:  # interrupted: leave no job running
            await ctx.backend.cancel(out.job_id)
    await inspect_job.inspect_job(inspect_job.Input(job_id=out.job_id), ctx)  # settles the calibration
    actual = (info.finished_at - info.started_at).total_seconds() if info.started_at and info.finished_at else 0
    return out.forecast.seconds_likely, actual, out.forecast.calibrated, info.stage.value


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--sizes", default=",".join(SIZES), help="which of S, M, L to run (default all)")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a stopped bench cancels its running job first
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        paths = build(root / "assets")
        (root / "reward.py").write_text(REWARD)
        paths["reward"] = str(root / "reward.py")
        print(f"built three tiny models and datasets in {time.monotonic() - started:.0f}s")
        backend = LocalBackend(home=root / "state", slots=1)
        await backend.start()
        ctx = ToolContext(backend=backend, secrets=SecretBook(), state_home=root / "state")
        ratios: dict[int, list[float]] = {}
        try:
            print(f"{'round':>5} {'run':<8} {'forecast':>9} {'actual':>8} {'ratio':>6}  basis")
            for rnd in range(1, opts.rounds + 1):
                for name, args in requests(paths, opts.steps, opts.sizes.split(",")):
                    fc, actual, calibrated, stage = await one(ctx, args)
                    ratio = fc / actual if actual else float("nan")
                    ratios.setdefault(rnd, []).append(ratio)
                    print(f"{rnd:>5} {name:<8} {fc:>8.1f}s {actual:>7.1f}s {ratio:>6.2f}  "
                          f"{calibrated or 'first guess'}{'' if stage == 'COMPLETED' else ' [' + stage + ']'}",
                          flush=True)
        finally:
            await backend.aclose()
        for rnd, values in ratios.items():
            lo, hi = (0.5, 2.0) if rnd == 1 else (0.8, 1.25)
            inside = sum(lo <= v <= hi for v in values)
            print(f"round {rnd}: forecast/actual median {statistics.median(values):.2f}, range "
                  f"{min(values):.2f}-{max(values):.2f}; {inside}/{len(values)} within {lo}-{hi}x")


if __name__ == "__main__":
    anyio.run(main)
