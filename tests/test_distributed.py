"""Multi-GPU flavors train on all their GPUs: the command line for an x4 flavor, and the sharding choice from the
memory estimate (pure recipe tests: no GPU is needed to write the command)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trl_jobs_mcp.jobs.backends.hf import HFBackend, hf_command_line
from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.core.flavors import get_flavor
from trl_jobs_mcp.jobs.recipes import TrainingRequest, build_training_spec, distribution_for, plan_distribution

TRL_CONFIGS = "https://raw.githubusercontent.com/huggingface/trl/v1.16.0/trl/accelerate_configs/"


def test_a_7b_full_fine_tune_on_two_gpus_is_sharded_with_fsdp() -> None:
    request = TrainingRequest(trainer="sft", model="Qwen/Qwen2.5-7B", dataset="trl-lib/Capybara",
                              per_device_train_batch_size=1)
    flavor = get_flavor("rtx-pro-6000x2")  # what recommend_hardware picks for it: 192 GB over two 96 GB GPUs
    plan = plan_distribution(request, flavor=flavor, params=7.6e9)
    assert plan is not None and plan.processes == 2 and plan.sharded and plan.config == "fsdp2"
    assert plan.config_url == TRL_CONFIGS + "fsdp2.yaml"
    assert "more than one 96 GB GPU holds" in plan.text and "--num_processes 2" in plan.text

    spec = build_training_spec(request, traits=HFBackend.traits, flavor=flavor, distribution=plan)
    assert spec.script == "trl" and spec.dependencies[0] == "trl==1.16.0"
    assert spec.script_args[:5] == ["sft", "--accelerate_config", "fsdp2", "--num_processes", "2"]
    assert "--model_name_or_path=Qwen/Qwen2.5-7B" in spec.script_args
    line = hf_command_line(spec)
    assert line[line.index("--") + 1:][:6] == ["trl", "sft", "--accelerate_config", "fsdp2", "--num_processes", "2"]


def test_lora_that_fits_one_gpu_runs_data_parallel() -> None:
    request = TrainingRequest(trainer="sft", model="Qwen/Qwen2.5-7B", dataset="trl-lib/Capybara", use_peft=True,
                              per_device_train_batch_size=1)
    plan = plan_distribution(request, flavor=get_flavor("a100x4"), params=7.6e9)
    assert plan is not None and (plan.processes, plan.config, plan.sharded) == (4, "multi_gpu", False)
    assert "data parallel" in plan.reason
    # Size unknown: all GPUs still train, unsharded, and the plan says why.
    unknown = plan_distribution(request, flavor=get_flavor("a100x4"), params=None)
    assert unknown is not None and unknown.config == "multi_gpu" and "size is unknown" in unknown.reason
    # One GPU, or none: nothing changes.
    assert plan_distribution(request, flavor=get_flavor("a100-large"), params=7.6e9) is None
    assert plan_distribution(request, flavor=get_flavor("cpu-basic"), params=7.6e9) is None


@pytest.mark.anyio
async def test_the_local_command_for_an_x4_flavor_runs_trl_under_accelerate_launch(tiny: dict[str, Path],
                                                                                   tmp_path: Path) -> None:
    import importlib.util

    request = TrainingRequest(trainer="sft", model=str(tiny["model"]), dataset=str(tiny["sft"]), max_steps=2)
    flavor = get_flavor("l40sx4")
    # The size comes from the model folder's config.json, as recommend_hardware finds it (jobs.model_size).
    plan = await distribution_for(request, flavor=flavor, backend=LocalBackend(home=tmp_path / "state"))
    assert plan is not None and plan.config == "multi_gpu"  # a tiny model fits any GPU
    spec = build_training_spec(request, traits=LocalBackend.traits, flavor=flavor, distribution=plan)
    trl_folder = Path(list(importlib.util.find_spec("trl").submodule_search_locations)[0])
    config = trl_folder / "accelerate_configs" / "multi_gpu.yaml"
    assert spec.command[:11] == [sys.executable, "-P", "-m", "accelerate.commands.launch", "--num_processes", "4",
                                 "--config_file", str(config), "--module", "trl_jobs_mcp.jobs.recipes.entry", "sft"]
    assert config.is_file() and spec.env["PYTHONSAFEPATH"] == "1"
    # accelerate's own parser reads it as N processes of the entry module, the training arguments passed through.
    from accelerate.commands.launch import launch_command_parser

    parsed = launch_command_parser().parse_args(spec.command[4:])
    assert parsed.num_processes == 4 and parsed.module and parsed.training_script == "trl_jobs_mcp.jobs.recipes.entry"
    assert parsed.training_script_args[0] == "sft" and f"--model_name_or_path={tiny['model']}" in \
        parsed.training_script_args


@pytest.mark.anyio
async def test_the_plan_takes_the_size_from_the_models_name_or_goes_unsharded(tmp_path: Path) -> None:
    backend = LocalBackend(home=tmp_path / "state")  # offline: no Hub look-up, so the name is what says the size
    seven_b = TrainingRequest(trainer="sft", model="Qwen/Qwen2.5-7B", dataset="d", per_device_train_batch_size=1)
    plan = await distribution_for(seven_b, flavor=get_flavor("rtx-pro-6000x2"), backend=backend)
    assert plan is not None and plan.sharded and plan.config == "fsdp2"
    nameless = TrainingRequest(trainer="sft", model="someone/a-model-with-no-size", dataset="d")
    plan = await distribution_for(nameless, flavor=get_flavor("rtx-pro-6000x2"), backend=backend)
    assert plan is not None and not plan.sharded and "size is unknown" in plan.reason
    assert await distribution_for(seven_b, flavor=get_flavor("a100-large"), backend=backend) is None


# TRL's parser builds SFTConfig, whose gradient_checkpointing default the installed transformers deprecates.
@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")
def test_trls_cli_reads_the_hub_form_as_accelerate_launch_of_its_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words the Hugging Face job runs (`trl sft --accelerate_config fsdp2 --num_processes 2 ...`), given to
    TRL's own CLI here: accelerate gets the shipped fsdp2.yaml and 2 processes, the script its arguments."""
    from trl.cli import accelerate_launcher
    from trl.cli.main import main

    request = TrainingRequest(trainer="sft", model="Qwen/Qwen2.5-7B", dataset="trl-lib/Capybara", max_steps=5)
    plan = plan_distribution(request, flavor=get_flavor("h200x2"), params=70e9)
    spec = build_training_spec(request, traits=HFBackend.traits, flavor=get_flavor("h200x2"), distribution=plan)
    seen = {}
    monkeypatch.setattr(accelerate_launcher, "launch_training_script",
                        lambda script_name, launch_args, training_script_args: seen.update(
                            script=script_name, launch=launch_args, script_args=training_script_args))
    # This machine has no GPU: TRL's config would refuse the bf16 an H200 gets, so the parse here turns it off.
    assert main([*spec.script_args, "--bf16=false"]) == 0
    assert seen["script"] == "sft.py" and seen["launch"][0] == "--config_file"
    assert seen["launch"][1].endswith("accelerate_configs/fsdp2.yaml") and seen["launch"][2:] == ["--num_processes",
                                                                                                   "2"]
    assert "--model_name_or_path=Qwen/Qwen2.5-7B" in seen["script_args"] and "--max_steps=5" in seen["script_args"]
    assert "--accelerate_config" not in seen["script_args"]
