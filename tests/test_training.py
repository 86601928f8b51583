"""Real TRL trainers on the tiny offline model, launched from recipes through the real LocalBackend.

Each run is a few steps; they are submitted together and share two slots, so the file takes about a minute on two
cores. Every run must reach COMPLETED with a model and a model card tagged with the trainer's name in its output
folder, and log finite losses.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from polling import eventually

from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.core.models import JobInfo, JobStage, JobSpec
from trl_jobs_mcp.jobs.recipes import TrainingRequest, build_training_spec

# Seven real trainings in the module fixture, bounded by DEADLINE_S: more than the suite's per-test timeout.
pytestmark = [pytest.mark.training, pytest.mark.timeout(360)]

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 240
# The tag TRL's trainers put on their model cards (`_tag_names`), where it is not the trainer's own name.
TRAINER_TAGS = {"reward": "reward-trainer"}
# The job's process imports the dotted reward function ("tests.rewards.length_reward") by name.
JOB_ENV = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "TOKENIZERS_PARALLELISM": "false"}


def runs(tiny: dict[str, Path]) -> dict[str, TrainingRequest]:
    common = dict(model=str(tiny["model"]), max_steps=2, per_device_train_batch_size=2, logging_steps=1)
    return {
        # A single .jsonl file, with no checkpoint: the model card then comes from the entry module, not TRL.
        "sft-file": TrainingRequest(trainer="sft", dataset=str(tiny["sft"] / "train.jsonl"), save_strategy="no",
                                    **common),
        "sft-lora": TrainingRequest(trainer="sft", dataset=str(tiny["sft_text"]), use_peft=True, lora_r=4,
                                    lora_alpha=8, lora_target_modules=["q_proj", "v_proj"], learning_rate=2e-4,
                                    **common),
        "dpo": TrainingRequest(trainer="dpo", dataset=str(tiny["dpo"]), max_length=64, beta=0.1, **common),
        "grpo": TrainingRequest(trainer="grpo", dataset=str(tiny["prompts"]),
                                reward_funcs=["tests.rewards.length_reward"], num_generations=2,
                                max_completion_length=8, **common),
        "kto": TrainingRequest(trainer="kto", dataset=str(tiny["kto"]), max_length=64, **common),
        "reward": TrainingRequest(trainer="reward", dataset=str(tiny["dpo"]), max_length=64, save_strategy="no",
                                  **common),
        "rloo": TrainingRequest(trainer="rloo", dataset=str(tiny["prompts"]),
                                reward_funcs=["tests.rewards.length_reward"], num_generations=2,
                                max_completion_length=8, **common),
    }


@dataclass
class Run:
    request: TrainingRequest
    spec: JobSpec
    info: JobInfo
    log: str

    @property
    def output(self) -> Path:
        assert self.info.output_dir
        return Path(self.info.output_dir)


async def _whole_log(backend: LocalBackend, job_id: str) -> str:
    """A finished job's whole log, paged through until the backend says it has all been returned."""
    lines: list[str] = []
    since: int | None = None

    async def complete() -> bool:
        nonlocal since
        while True:  # page on at once while there is more; pause only when a read brings nothing new
            chunk = await backend.logs(job_id, since=since)
            lines.extend(chunk.lines)
            since = chunk.next_since
            if chunk.finished or not chunk.lines:
                return chunk.finished

    await eventually(complete, timeout=60, interval=0.2, what=f"the log of job {job_id} to be complete")
    return "\n".join(lines)


async def _run_all(home: Path, requests: dict[str, TrainingRequest]) -> dict[str, Run]:
    async with LocalBackend(home=home, slots=2) as backend:
        flavor = backend.check_flavor("cpu-basic")
        specs = {name: build_training_spec(req, traits=backend.traits, flavor=flavor, env=JOB_ENV,
                                           labels={"test": name}) for name, req in requests.items()}
        submitted = {name: await backend.submit(spec) for name, spec in specs.items()}
        done: dict[str, Run] = {}

        async def all_done() -> bool:
            for name, job in submitted.items():
                if name not in done and (info := await backend.inspect(job.id)).finished:
                    log = await _whole_log(backend, job.id)
                    done[name] = Run(requests[name], specs[name], info, log)
            return len(done) == len(submitted)

        await eventually(all_done, timeout=DEADLINE_S, interval=0.5,
                         what=lambda: f"every run to finish; still running: {sorted(set(submitted) - set(done))}")
        return done


@pytest.fixture(scope="module")
def trained(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    return anyio.run(_run_all, tmp_path_factory.mktemp("jobs"), runs(tiny))


def logged_losses(log: str) -> list[float]:
    """The `loss` of every metrics line TRL printed ({'loss': '6.007', ...}; values are strings)."""
    losses = []
    for match in re.finditer(r"\{[^{}]*'loss': [^{}]*\}", log):
        metrics = ast.literal_eval(match.group(0))
        losses.append(float(metrics["loss"]))
    return losses


def card_tags(card: str) -> list[str]:
    front = card.split("---")[1]
    return re.findall(r"^- (\S+)$", front.split("tags:")[1], flags=re.MULTILINE)


@pytest.mark.parametrize("name", ["sft-file", "sft-lora", "dpo", "grpo", "kto", "reward", "rloo"])
def test_trainer_completes_with_model_card_and_finite_losses(trained: dict[str, Run], name: str) -> None:
    run = trained[name]
    assert run.info.stage == JobStage.COMPLETED, f"{run.info.message}\n{run.log[-3000:]}"
    assert run.info.exit_code == 0
    assert run.info.labels["trainer"] == run.request.trainer and run.info.labels["test"] == name
    weights = "adapter_model.safetensors" if run.request.use_peft else "model.safetensors"
    assert (run.output / weights).is_file(), sorted(p.name for p in run.output.iterdir())
    card = (run.output / "README.md").read_text()
    tag = TRAINER_TAGS.get(run.request.trainer, run.request.trainer)
    assert tag in card_tags(card) and "trl" in card_tags(card), card[:400]
    losses = logged_losses(run.log)
    assert len(losses) == run.request.max_steps, run.log[-2000:]
    assert all(math.isfinite(loss) for loss in losses), losses


def test_single_file_dataset_reached_trl_as_a_folder(trained: dict[str, Run], tiny: dict[str, Path]) -> None:
    run = trained["sft-file"]
    assert f"--dataset_name={tiny['sft'] / 'train.jsonl'}" in run.spec.command
    # TRL saw every row of the one file as the train split: 64 rows in jsonl, batch 2, 2 steps -> epoch 4/64.
    assert "'epoch': '0.0625'" in run.log
    assert not (run.output / "checkpoint-2").exists()  # save_strategy="no" was honoured


def test_lora_run_saved_an_adapter_not_a_full_model(trained: dict[str, Run]) -> None:
    out = trained["sft-lora"].output
    assert (out / "adapter_config.json").is_file()
    assert not (out / "model.safetensors").exists()
    assert '"r": 4' in (out / "adapter_config.json").read_text()


def test_grpo_used_the_dotted_reward_function(trained: dict[str, Run]) -> None:
    assert "rewards/length_reward" in trained["grpo"].log


@pytest.mark.anyio
async def test_a_stopped_sft_run_is_rerun_from_its_last_checkpoint(tiny: dict[str, Path], state_dir: Path) -> None:
    """rerun_job(resume=true, more_steps=1) on a real TRL run (resuming one that trained all its steps, with none
    more, is refused since issue 20): the rerun starts from the newest checkpoint-N the first one saved,
    and TRL accepts it (a wrong path would end the job in ERROR)."""
    from mcp_client import call, local_client

    env = {k: v for k, v in JOB_ENV.items() if k != "PYTHONPATH"}
    async with local_client(state_dir) as client:
        _, first = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(tiny["sft_text"]),
                              max_steps=2, per_device_train_batch_size=2, logging_steps=1, save_strategy="steps",
                              save_steps=1, env=env)

        async def ended(job_id: str) -> dict | None:
            _, out = await call(client, "inspect_job", job_id=job_id)
            return out["job"] if out["job"]["stage"] in ("COMPLETED", "ERROR", "CANCELED") else None

        done = await eventually(lambda: ended(first["job_id"]), timeout=DEADLINE_S, interval=0.5,
                                what="the first run to end")
        assert done["stage"] == "COMPLETED", done["message"]
        checkpoint = Path(done["output_dir"]) / "checkpoint-2"
        assert checkpoint.is_dir()

        _, again = await call(client, "rerun_job", job_id=first["job_id"], resume=True, more_steps=1)
        rerun = await eventually(lambda: ended(again["job_id"]), timeout=DEADLINE_S, interval=0.5,
                                 what="the resumed run to end")
    assert rerun["stage"] == "COMPLETED", rerun["message"]
    assert f"--resume_from_checkpoint={checkpoint}" in rerun["command"]
