"""Recipes: a TrainingRequest becomes TRL's command line, and every bad input is refused before a job exists.

Fast: nothing trains here. The argument checks run against the installed TRL's own parsers (read once, in a child
process); the real trainer runs are in test_training.py.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from pydantic import ValidationError

from trl_jobs_mcp.jobs.backends.hf import HFBackend, hf_command_line
from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.core.flavors import get_flavor
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec
from trl_jobs_mcp.jobs.recipes import (
    APPLIES_TO,
    TRAINERS,
    TRL_VERSION,
    TrainingRequest,
    all_trainer_arguments,
    build_training_spec,
    script_url,
)
from trl_jobs_mcp.jobs.recipes import entry, trl_args
from trl_jobs_mcp.jobs.recipes.request import CLI_NAMES, NOT_CLI

ROOT = Path(__file__).resolve().parents[1]
CPU = get_flavor("cpu-basic")
GPU = get_flavor("a10g-large")
T4 = get_flavor("t4-small")
# The recipe knows a backend only by its traits; these two are the ones it builds for.
TRAITS = {"local": LocalBackend.traits, "hf": HFBackend.traits}

# The minimum each trainer needs besides model and dataset.
NEEDS: dict[str, dict] = {t: {} for t in TRAINERS}
NEEDS["grpo"] = NEEDS["rloo"] = {"reward_funcs": ["think_format_reward"]}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "my data" / "chat.jsonl"
    path.parent.mkdir()
    # Columns every trainer reads, so that one file serves each trainer's command line.
    path.write_text(json.dumps({"text": "hello", "prompt": "hi", "chosen": " hello", "rejected": " bye",
                                "completion": " hello", "label": True}) + "\n")
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Hugging Face token anywhere: not in the environment, not in a login file."""
    import huggingface_hub.constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


def request(**fields) -> TrainingRequest:
    fields.setdefault("model", "Qwen/Qwen2.5-0.5B")
    fields.setdefault("dataset", "trl-lib/Capybara")
    return TrainingRequest(**fields)


def build(req: TrainingRequest, backend: str = "local", flavor=CPU, **kwargs) -> JobSpec:
    return build_training_spec(req, traits=TRAITS[backend], flavor=flavor, **kwargs)


def refused(req: TrainingRequest, field: str, *needles: str, backend: str = "local", flavor=CPU,
            **kwargs) -> InvalidJobSpec:
    with pytest.raises(InvalidJobSpec) as info:
        build(req, backend, flavor, **kwargs)
    assert info.value.field == field, str(info.value)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return info.value


# --- the pinned release and the installed TRL agree with the recipe's tables ---


def test_trl_version_is_the_installed_and_pinned_release() -> None:
    assert metadata.version("trl") == TRL_VERSION
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    assert f"trl=={TRL_VERSION}" in deps


def test_field_applicability_matches_installed_trl_parsers() -> None:
    tables = all_trainer_arguments()
    assert set(tables) == set(TRAINERS)
    for field in TrainingRequest.model_fields:
        if field in NOT_CLI:
            continue
        cli = CLI_NAMES.get(field, field)
        accepted = {t for t in TRAINERS if cli in tables[t]}
        assert accepted == set(APPLIES_TO.get(field, TRAINERS)), field


def test_shipped_argument_table_is_what_the_pinned_trl_parsers_say(tmp_path) -> None:
    """The table in the package is generated, never hand-edited: regenerate it from the installed (pinned) TRL."""
    assert metadata.version("trl") == trl_args.TRL_VERSION
    fresh = trl_args._introspect()
    assert trl_args.render_table(fresh) == trl_args.SHIPPED_TABLE.read_text(), (
        "jobs/recipes/trl_args.json differs from TRL's parsers: run "
        "`python -m trl_jobs_mcp.jobs.recipes.trl_args --write` and commit the result")


def test_another_installed_trl_release_is_introspected_once_and_cached(monkeypatch, tmp_path) -> None:
    real = trl_args.shipped_table()
    real_version = trl_args._version
    monkeypatch.setattr(trl_args, "_version", lambda dist: "9.9.9" if dist == "trl" else real_version(dist))
    monkeypatch.setattr(trl_args, "_memory", {})
    # A doctored cache proves the process reads the file instead of asking TRL again.
    doctored = {t: dict(args) for t, args in real.items()}
    del doctored["sft"]["warmup_steps"]
    (tmp_path / f"trl-args-{trl_args.cache_key()}.json").write_text(json.dumps(doctored))
    assert "warmup_steps" not in all_trainer_arguments(cache_dir=tmp_path)["sft"]
    # A job that installs its own TRL (hf, ray) is checked against the pinned release's table.
    assert "warmup_steps" in all_trainer_arguments(installed=False, cache_dir=tmp_path)["sft"]


# --- the server process stays free of torch, transformers and trl ---


def test_building_specs_imports_no_heavy_module() -> None:
    code = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from trl_jobs_mcp.jobs.core.flavors import get_flavor
from trl_jobs_mcp.jobs.backends.hf import HFBackend, hf_command_line
from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.recipes import TRAINERS, TrainingRequest, build_training_spec
for trainer in TRAINERS:
    extra = {{"reward_funcs": ["think_format_reward"]}} if trainer in ("grpo", "rloo") else {{}}
    req = TrainingRequest(trainer=trainer, model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara",
                          extra_args={{"warmup_steps": 1}}, **extra)
    build_training_spec(req, traits=LocalBackend.traits, flavor=get_flavor("cpu-basic"))
    hf_command_line(build_training_spec(req, traits=HFBackend.traits, flavor=get_flavor("cpu-basic")))
heavy = ("torch", "transformers", "trl", "datasets", "accelerate", "peft")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]


# --- every trainer's command line is accepted by TRL's own parser ---


def test_every_spec_parses_with_trls_own_parser(model_dir: Path, data_file: Path) -> None:
    argvs = {}
    for trainer in TRAINERS:
        extra = dict(NEEDS[trainer])
        if trainer in ("grpo", "rloo"):
            extra.update(num_generations=2, max_completion_length=16, temperature=0.7, beta=0.04)
        req = TrainingRequest(trainer=trainer, model=str(model_dir), dataset=str(data_file), max_steps=3,
                              learning_rate=1e-4, use_peft=True, lora_r=8, lora_target_modules=["q_proj", "v_proj"],
                              logging_steps=1, save_strategy="no", seed=7, extra_args={"warmup_steps": 2}, **extra)
        argvs[trainer] = build(req).command[5:] + ["--output_dir=/tmp/x"]
    hub = TrainingRequest(trainer="dpo", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/ultrafeedback_binarized",
                          loss_type=["sigmoid", "sft"], beta=0.2, packing=None)
    # A GPU spec leaves bf16 to TRL, which refuses it on this CPU-only machine: parse it as the CPU would run it.
    argvs["hf-dpo"] = build(hub, "hf", GPU).script_args + ["--use_cpu=true"]
    code = """
import importlib, json, sys
out = {}
for name, argv in json.loads(sys.argv[1]).items():
    parser = importlib.import_module("trl.scripts." + name.removeprefix("hf-")).make_parser()
    parsed = parser.parse_args_into_dataclasses(args=argv)
    script, training, model = parsed[:3]
    out[name] = {"max_steps": training.max_steps, "bf16": training.bf16, "dataset": script.dataset_name,
                 "lora_target_modules": model.lora_target_modules, "use_peft": model.use_peft,
                 "reward_funcs": getattr(script, "reward_funcs", None),
                 "loss_type": getattr(training, "loss_type", None), "warmup_steps": training.warmup_steps}
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(argvs)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    for trainer in TRAINERS:
        got = parsed[trainer]
        assert got["max_steps"] == 3 and got["bf16"] is False and got["use_peft"] is True, (trainer, got)
        assert got["lora_target_modules"] == ["q_proj", "v_proj"]
        assert got["dataset"] == str(data_file.resolve())
        assert got["warmup_steps"] == 2
    assert parsed["grpo"]["reward_funcs"] == ["think_format_reward"]
    assert parsed["hf-dpo"]["loss_type"] == ["sigmoid", "sft"]


# --- local specs ---


def test_local_spec_runs_the_entry_module_with_trl_names(data_file: Path, model_dir: Path) -> None:
    spec = build(request(model=str(model_dir), dataset=str(data_file), max_steps=5, learning_rate=2e-5,
                         packing=True, eos_token="<|im_end|>", lora_r=None),
                 env={"WANDB_MODE": "offline"}, secrets={"HF_TOKEN": "hf_secret"}, labels={"team": "nlp"},
                 timeout="2h")
    assert spec.command[:5] == [sys.executable, "-P", "-m", "trl_jobs_mcp.jobs.recipes.entry", "sft"]
    args = spec.command[4:]
    assert f"--model_name_or_path={model_dir.resolve()}" in args
    assert f"--dataset_name={data_file.resolve()}" in args  # the entry turns the file into a folder
    assert {"--max_steps=5", "--learning_rate=2e-05", "--packing=true", "--eos_token=<|im_end|>"} <= set(args)
    assert not any(a.startswith("--output_dir") for a in args)  # the entry defaults it to the job's folder
    assert spec.env == {"WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    assert spec.secrets == {"HF_TOKEN": "hf_secret"} and spec.timeout == 7200
    assert spec.labels == {"trainer": "sft", "model": "model", "dataset": "chat.jsonl", "team": "nlp"}
    assert spec.output_dir is None


def test_local_output_dir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = build(request(output_dir="runs/one"))
    assert spec.output_dir == str(tmp_path / "runs" / "one")
    assert f"--output_dir={tmp_path / 'runs' / 'one'}" in spec.command


def test_caller_labels_win_and_long_names_are_shortened() -> None:
    spec = build(request(model="org/" + "m" * 100), labels={"trainer": "mine"})
    assert spec.labels["trainer"] == "mine"
    assert len(spec.labels["model"]) == 63


@pytest.mark.parametrize("trainer", TRAINERS)
def test_cpu_turns_bf16_off_and_gpu_keeps_trl_default(trainer: str) -> None:
    req = request(trainer=trainer, **NEEDS[trainer])
    for backend in ("local", "hf"):
        assert "--bf16=false" in build(req, backend, CPU).redacted_command()
        assert not any("bf16" in a for a in build(req, backend, GPU).redacted_command())
    # T4s predate bf16: TRL's default would stop the job at start-up there too.
    assert "--bf16=false" in build(req, "hf", T4).script_args


def test_precision_chosen_in_extra_args_is_left_alone() -> None:
    spec = build(request(extra_args={"use_cpu": True}))
    assert "--use_cpu=true" in spec.command and not any("bf16" in a for a in spec.command)


# --- hf specs ---


def test_hf_spec_runs_trls_script_pinned_to_the_release(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    spec = build(request(trainer="grpo", reward_funcs=["accuracy_reward"], use_peft=True, report_to="trackio",
                         push_to_hub=True, hub_model_id="me/grpo-run", num_generations=4),
                 "hf", GPU, timeout="1h")
    assert spec.script == f"https://raw.githubusercontent.com/huggingface/trl/v{TRL_VERSION}/trl/scripts/grpo.py"
    assert spec.script == script_url("grpo") and spec.command is None
    assert spec.dependencies == [f"trl=={TRL_VERSION}", "peft", "trackio", "math-verify"]
    assert "--output_dir=Qwen2.5-0.5B-GRPO" in spec.script_args and spec.output_dir == "Qwen2.5-0.5B-GRPO"
    assert {"--reward_funcs", "accuracy_reward", "--num_generations=4", "--push_to_hub=true",
            "--hub_model_id=me/grpo-run"} <= set(spec.script_args)
    # The container cannot see this machine's login: the token travels as a secret, and the recipe only names it
    # ("$HF_TOKEN" is the backend's own token), so its value never passes through the spec.
    assert spec.secrets == {"HF_TOKEN": "$HF_TOKEN"}
    line = shlex.join(hf_command_line(spec))
    assert line.startswith("hf jobs uv run --flavor a10g-large --timeout 1h")
    assert "--with trl==1.16.0 --with peft" in line
    assert "-s HF_TOKEN" in line and script_url("grpo") in line and "hf_from_env" not in line


def test_hf_refuses_what_lives_on_this_machine(data_file: Path, model_dir: Path) -> None:
    refused(request(dataset=str(data_file)), "dataset", "upload_local_data=true", backend="hf")
    refused(request(dataset=str(data_file.parent)), "dataset", "upload_local_data=true", backend="hf")
    refused(request(model=str(model_dir)), "model", "upload_local_data=true", backend="hf")
    refused(request(trainer="grpo", reward_funcs=["tests.rewards.length_reward"]), "reward_funcs",
            "container", "local backend", backend="hf")
    refused(request(report_to="wandb"), "report_to", "WANDB_API_KEY", backend="hf")


# --- bad input, each refused with the field and the fix ---


def test_unknown_trainer_names_the_closest() -> None:
    refused(request(trainer="sfft"), "trainer", "'sft'", "dpo, grpo")
    refused(request(trainer="ppo"), "trainer", "sft, dpo, grpo, kto, reward, rloo")
    assert request(trainer=" DPO ").trainer == "dpo"


def test_unknown_extra_argument_names_the_closest() -> None:
    refused(request(extra_args={"lerning_rate": 1e-4}), "extra_args", "'learning_rate'", "set `learning_rate`")
    refused(request(extra_args={"warmup_step": 3}), "extra_args", "Did you mean 'warmup_steps'")
    refused(request(extra_args=["--warmup_steps", "3", "--gradient_chekpointing"]), "extra_args",
            "'gradient_checkpointing'")
    refused(request(extra_args={"vllm_mode": "colocate"}), "extra_args", "belongs to grpo, rloo")
    refused(request(extra_args={"completely_made_up": 1}), "extra_args", "not an argument of TRL's sft")


def test_extra_argument_values_are_checked_against_trls_types() -> None:
    refused(request(extra_args={"lr_scheduler_type": "cosin"}), "extra_args", "Did you mean 'cosine'")
    refused(request(extra_args={"warmup_steps": "soon"}), "extra_args", "expects a number")
    refused(request(extra_args={"dataloader_num_workers": 1.5}), "extra_args", "whole number")
    refused(request(extra_args={"gradient_checkpointing": "maybe"}), "extra_args", "true or false")
    refused(request(extra_args={"dataloader_num_workers": [1, 2]}), "extra_args", "single value")
    refused(request(extra_args={"learning_rate": 1e-4}), "extra_args", "set `learning_rate` instead")
    refused(request(extra_args={"model_name_or_path": "x/y"}), "extra_args", "set `model` instead")
    refused(request(extra_args=["warmup_steps", "3"]), "extra_args", "start with an option")


def test_extra_arguments_accepted_in_both_forms() -> None:
    spec = build(request(extra_args={"--warmup-steps": 10, "lr_scheduler_type": "cosine",
                                     "gradient_checkpointing": True, "no_remove_unused_columns": True,
                                     "lora_modules_to_save": ["lm_head", "embed_tokens"]}))
    assert {"--warmup_steps=10", "--lr_scheduler_type=cosine", "--gradient_checkpointing=true",
            "--no_remove_unused_columns"} <= set(spec.command)
    i = spec.command.index("--lora_modules_to_save")
    assert spec.command[i + 1:i + 3] == ["lm_head", "embed_tokens"]
    words = ["--warmup_steps", "0.1", "--weight-decay=0.01", "--gradient_checkpointing"]
    assert build(request(extra_args=words)).command[-len(words) - 1:-1] == words


def test_missing_local_paths(tmp_path: Path, data_file: Path) -> None:
    refused(request(dataset=str(tmp_path / "nope.jsonl")), "dataset", "no such file or folder")
    refused(request(dataset="./not/here"), "dataset", "no such file or folder")
    refused(request(model=str(tmp_path / "missing-model")), "model", "no such folder")
    refused(request(model=str(data_file)), "model", "is a file")
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    refused(request(dataset=str(txt)), "dataset", ".jsonl")
    refused(request(dataset="not a hub id!"), "dataset", "Hub dataset id")


def test_single_file_has_only_a_train_split(data_file: Path) -> None:
    # An evaluation holds out part of the file (tests/test_checks.py); another split name is refused.
    assert build(request(dataset=str(data_file), eval_strategy="steps", eval_steps=10)).command
    refused(request(dataset=str(data_file), dataset_split="validation"), "dataset_split", "'train'")


def test_numbers_out_of_bounds() -> None:
    with pytest.raises(ValidationError) as info:
        request(max_steps=0)
    assert info.value.errors()[0]["loc"] == ("max_steps",)
    for field, value in (("max_steps", 0), ("max_steps", -5), ("learning_rate", -1.0), ("lora_r", 0)):
        req = TrainingRequest.model_construct(**{**request().__dict__, field: value})
        refused(req, field, "greater than")


def test_fields_refused_for_trainers_they_do_not_apply_to() -> None:
    refused(request(beta=0.1), "beta", "dpo, grpo, kto, rloo")
    refused(request(trainer="dpo", packing=True), "packing", "applies to sft")
    refused(request(trainer="kto", num_generations=4), "num_generations", "grpo, rloo")
    refused(request(trainer="grpo", reward_funcs=["think_format_reward"], max_length=512), "max_length",
            "sft, dpo, kto, reward")
    refused(request(loss_type=["nll", "dft"]), "loss_type", "only dpo")
    refused(request(loss_type="nlll"), "loss_type", "Did you mean 'nll'")
    refused(request(lora_r=8), "lora_r", "use_peft=true")
    refused(request(eval_steps=50), "eval_steps", "eval_strategy='steps'")


def test_rewards_required_for_online_trainers() -> None:
    for trainer in ("grpo", "rloo"):
        refused(request(trainer=trainer), "reward_funcs", "accuracy_reward", "dotted import path")
    refused(request(trainer="grpo", reward_funcs=["acuracy_reward"]), "reward_funcs", "'accuracy_reward'")
    ok = build(request(trainer="rloo", extra_args={"reward_model_name_or_path": "org/rm"}))
    assert "--reward_model_name_or_path=org/rm" in ok.command


def test_push_to_hub_needs_a_repo_and_a_token(no_token: None, monkeypatch: pytest.MonkeyPatch) -> None:
    refused(request(push_to_hub=True), "hub_model_id", "'user-or-org/name'")
    err = refused(request(push_to_hub=True, hub_model_id="me/model"), "push_to_hub", "HF_TOKEN", "hf auth login")
    spec = build(request(push_to_hub=True, hub_model_id="me/model"), secrets={"HF_TOKEN": "hf_abc"})
    assert "--push_to_hub=true" in spec.command and "hf_abc" not in str(err)
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert build(request(push_to_hub=True, hub_model_id="me/model")).secrets == {}  # the job inherits the login


def test_credentials_belong_in_secrets() -> None:
    refused(request(), "env", "secrets", env={"HF_TOKEN": "hf_abc"})
    refused(request(), "env", "secrets", env={"WANDB_API_KEY": "k"})


def test_timeout_errors_come_from_the_spec() -> None:
    with pytest.raises(InvalidJobSpec) as info:
        build(request(), timeout="soon")
    assert info.value.field == "timeout"


# --- the job-side entry's helpers (no TRL needed) ---


def test_entry_presents_a_single_file_as_a_folder(data_file: Path, tmp_path: Path) -> None:
    args = entry.with_data_folder(["--model_name_or_path=m", f"--dataset_name={data_file}"], tmp_path / "t")
    folder = Path(args[1].split("=", 1)[1])
    assert [p.name for p in folder.iterdir()] == ["train.jsonl"]
    assert (folder / "train.jsonl").read_text() == data_file.read_text()
    spaced = entry.with_data_folder(["--dataset_name", str(data_file)], tmp_path / "u")
    assert Path(spaced[1]).is_dir()
    assert entry.with_data_folder(["--dataset_name=org/data"], tmp_path / "v") == ["--dataset_name=org/data"]


def test_entry_defaults_output_dir_to_the_jobs_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRL_JOBS_OUTPUT_DIR", "/jobs/1/output")
    assert entry.with_output_dir(["--seed=1"]) == ["--seed=1", "--output_dir=/jobs/1/output"]
    assert entry.with_output_dir(["--output-dir", "mine"]) == ["--output-dir", "mine"]
    monkeypatch.delenv("TRL_JOBS_OUTPUT_DIR")
    with pytest.raises(SystemExit, match="TRL_JOBS_OUTPUT_DIR"):
        entry.with_output_dir([])
