"""What a launch checks before a job exists (jobs/recipes/checks.py), one pitfall per test: mixed precision on a
flavor without a GPU, dataset columns against the trainer (local files of every format, a folder, a Hub dataset's
card through the real huggingface_hub client against the fake Hub), the user's own reward functions, the logging
interval of a short run, an evaluation on a single data file, and the labels a launch gives.

Fast: nothing trains here; the job-side steps of entry.py run in child processes, as in a job.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fake_hf_jobs import FakeHFJobs
from trl_jobs_mcp.jobs.backends.base import BackendTraits
from trl_jobs_mcp.jobs.backends.hf import HFBackend, hf_command_line
from trl_jobs_mcp.jobs.backends.hf.command_line import label_value
from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.core.flavors import get_flavor
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec
from trl_jobs_mcp.jobs.recipes import TrainingRequest, build_training_spec
from trl_jobs_mcp.jobs.recipes.checks import fitting_trainers

CPU = get_flavor("cpu-basic")
GPU = get_flavor("a10g-large")
MESSAGES = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
PAIR = {"prompt": "hi", "chosen": " hello", "rejected": " go away"}
# The recipe knows a backend by its traits alone: one that runs here, and one that does not.
TRAITS = {"local": LocalBackend.traits, "hf": HFBackend.traits}


def hf_jobs_command(spec: JobSpec) -> str:
    return shlex.join(hf_command_line(spec))


def build(backend: str = "local", flavor=CPU, notes: list[str] | None = None, labels: dict | None = None,
          **fields) -> JobSpec:
    fields.setdefault("model", "Qwen/Qwen2.5-0.5B")
    fields.setdefault("dataset", "trl-lib/Capybara")
    return build_training_spec(TrainingRequest(**fields), traits=TRAITS[backend], flavor=flavor, notes=notes,
                               labels=labels)


def refused(field: str, *needles: str, **kwargs) -> str:
    with pytest.raises(InvalidJobSpec) as info:
        build(**kwargs)
    assert info.value.field == field, str(info.value)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return str(info.value)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- bf16/fp16 on a flavor without a GPU ---


@pytest.mark.parametrize("extra", [{"bf16": True}, ["--bf16"], ["--fp16", "true"], {"fp16": "yes"}])
def test_mixed_precision_without_a_gpu_offers_both_ways_out(extra: dict | list) -> None:
    message = refused("extra_args", "needs a GPU", "cpu-basic", "drop", "use_cpu=true", extra_args=extra)
    assert "list_hardware" in message


def test_mixed_precision_is_kept_with_use_cpu_or_on_a_gpu() -> None:
    spec = build(extra_args={"bf16": True, "use_cpu": True})
    assert "--bf16=true" in spec.command and "--use_cpu=true" in spec.command
    assert "--bf16=true" in build("hf", GPU, extra_args={"bf16": True}).script_args
    assert "--bf16=false" in build(extra_args={"bf16": False}).command


def test_precision_and_columns_are_told_together(tmp_path: Path) -> None:
    """Both problems of 'DPO on my chat file with bf16' in one refusal: one correction, not two round trips."""
    data = write_jsonl(tmp_path / "chat.jsonl", [MESSAGES])
    message = refused("extra_args", "use_cpu=true", "Also dataset:", "that is sft data", trainer="dpo",
                      dataset=str(data), extra_args={"bf16": True})
    assert message.count("extra_args:") == 1


# --- dataset columns against the trainer ---


def test_conversational_rows_for_dpo_are_named_sft_data(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [MESSAGES] * 3)
    refused("dataset", "`messages`", "that is sft data", "dpo needs prompt/chosen/rejected", "trainer='sft'",
            trainer="dpo", dataset=str(data))
    assert build(trainer="sft", dataset=str(data)).command  # the same rows fit sft


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_every_file_format_is_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pairs{suffix}"
    rows = [PAIR] * 3
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".csv":
        path.write_text("prompt,chosen,rejected\nhi, hello, go away\n")
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        import pyarrow as pa

        pq.write_table(pa.Table.from_pylist(rows), path)
    refused("dataset", "`chosen`", "dpo or reward data", "sft needs messages", trainer="sft", dataset=str(path))
    assert build(trainer="dpo", dataset=str(path)).command


def test_a_folder_is_read_from_its_train_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data" / "train.jsonl", [{"prompt": "what is 2+2?"}] * 2)
    write_jsonl(tmp_path / "data" / "test.jsonl", [PAIR])
    refused("dataset", "`prompt`", "grpo or rloo data", trainer="dpo", dataset=str(tmp_path / "data"))


def test_unreadable_or_unknown_rows_are_left_to_the_job(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    assert build(trainer="dpo", dataset=str(broken)).command
    # A custom text column named in extra_args fits sft.
    data = write_jsonl(tmp_path / "notes.jsonl", [{"body": "some text"}])
    refused("dataset", "no TRL trainer reads these columns", trainer="sft", dataset=str(data))
    assert build(trainer="sft", dataset=str(data), extra_args={"dataset_text_field": "body"}).command


def test_which_trainer_the_columns_fit() -> None:
    assert fitting_trainers({"messages"}) == ["sft"]
    assert fitting_trainers({"prompt", "completion", "label"})[0] == "kto"
    assert fitting_trainers({"prompt", "completion"}) == ["sft"]
    assert fitting_trainers({"prompt"}) == ["grpo", "rloo"]


def test_a_hub_datasets_card_is_checked_and_an_unreachable_hub_is_skipped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeHFJobs() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        fake.datasets["someone/chats"] = {"dataset_info": {"features": [{"name": "messages", "list": []}]}}
        fake.datasets["someone/configs"] = {"dataset_info": [
            {"config_name": "pairs", "features": [{"name": n, "dtype": "string"} for n in PAIR]},
            {"config_name": "chat", "features": [{"name": "messages", "list": []}]}]}
        refused("dataset", "that is sft data", trainer="dpo", dataset="someone/chats")
        assert build(trainer="dpo", dataset="someone/configs", dataset_config="pairs").command
        refused("dataset", "that is sft data", trainer="dpo", dataset="someone/configs", dataset_config="chat")
        assert build(trainer="dpo", dataset="someone/not-there").command  # a 404 says nothing about columns
        assert ("GET", "/api/datasets/someone/chats", "") in [(m, p, "") for m, p, _ in fake.requests]
        url = fake.url
    monkeypatch.setenv("HF_ENDPOINT", url)  # the fake is gone: nothing answers there
    assert build(trainer="dpo", dataset="someone/chats-elsewhere").command


def test_a_refusal_quotes_the_column_names_of_a_dataset_never_a_files_values(tmp_path: Path) -> None:
    """Pins: a refusal quoted the first row of any .csv on the machine (issue 23)."""
    token = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
    keys = tmp_path / "keys.csv"
    keys.write_text("admin,s3cr3t-Pa55word\n")  # one line: no header row above data, so no columns are known
    assert build(trainer="dpo", dataset=str(keys)).command
    odd = write_jsonl(tmp_path / "odd.jsonl", [{token: "x", "p@ss word!": 1}])
    assert build(trainer="dpo", dataset=str(odd)).command  # keys that are no column names are never quoted
    table = tmp_path / "table.csv"
    table.write_text("question,answer\nhi,hello\n")
    message = refused("dataset", "`answer`, `question`", trainer="dpo", dataset=str(table))
    assert "hello" not in message


# --- bounded walks (issue 23: "Unbounded work on one call") ---


def test_a_home_folder_or_the_root_is_no_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins: dataset="~" walked the whole home for 17 s; "/" failed half-way with a PermissionError."""
    home = tmp_path / "me"
    write_jsonl(home / "notes" / "train.jsonl", [{"text": "hi"}])
    monkeypatch.setenv("HOME", str(home))
    for dataset in ("~", str(home), "/"):
        refused("dataset", "Pass the folder or file that holds the dataset itself", dataset=dataset)
    refused("model", "a home folder", model="~")


def test_a_dataset_folder_past_the_walk_bound_is_refused_naming_dataset(tmp_path: Path) -> None:
    from trl_jobs_mcp.jobs.core.local_tree import MAX_FILES

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(MAX_FILES + 1):
        (folder / f"{i}.txt").touch()
    refused("dataset", f"more than {MAX_FILES} files", "Pass the folder or file that holds just the dataset",
            dataset=str(folder))


# --- the user's own reward functions ---


REWARDS = "def short_reward(completions, **kwargs):\n    return [-float(len(str(c))) for c in completions]\n"


def test_a_reward_file_path_is_accepted_on_the_local_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    (tmp_path / "rewards.py").write_text(REWARDS)
    monkeypatch.chdir(tmp_path)
    spec = build(trainer="grpo", reward_funcs=["rewards.py:short_reward"])
    assert f"{tmp_path / 'rewards.py'}:short_reward" in spec.command
    refused("reward_funcs", "no such file", trainer="grpo", reward_funcs=["missing.py:short_reward"])
    refused("reward_funcs", "a job on Hugging Face Jobs cannot reach", backend="hf", flavor=GPU, trainer="grpo",
            reward_funcs=[f"{tmp_path / 'rewards.py'}:short_reward"])


def test_how_a_dotted_path_is_found_is_said_when_no_reward_is_given() -> None:
    refused("reward_funcs", "PYTHONPATH", "rewards.py:func", "working folder", trainer="rloo")


def test_a_dry_run_checks_the_users_reward_as_the_job_would_import_it(tmp_path: Path) -> None:
    (tmp_path / "rewards.py").write_text(REWARDS)

    def dry(*funcs: str, env: dict[str, str] | None = None) -> JobSpec:
        return build_training_spec(TrainingRequest(trainer="grpo", model="Qwen/Qwen2.5-0.5B", dataset="x/y",
                                                   reward_funcs=list(funcs)),
                                   traits=TRAITS["local"], flavor=CPU, env=env, try_imports=True)

    with pytest.raises(InvalidJobSpec) as info:
        dry("rewards.short_reward")  # the job's working folder is its own: a dotted path needs PYTHONPATH
    assert "No module named 'rewards'" in str(info.value) and "PYTHONPATH" in str(info.value)
    assert "pip install" not in str(info.value)
    assert dry("rewards.short_reward", env={"PYTHONPATH": str(tmp_path)}).command
    assert dry(f"{tmp_path / 'rewards.py'}:short_reward", "think_format_reward").command
    assert dry("tests.rewards.length_reward", env={"PYTHONPATH": str(Path(__file__).parents[1])}).command
    with pytest.raises(InvalidJobSpec, match="no function 'long_reward'"):
        dry(f"{tmp_path / 'rewards.py'}:long_reward")
    with pytest.raises(InvalidJobSpec, match="no function 'long_reward'"):
        dry("rewards.long_reward", env={"PYTHONPATH": str(tmp_path)})


def test_a_dry_run_runs_none_of_the_users_code_and_quotes_none_of_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins: the import check executed the reward file (a canary was written) in a child holding the server's
    TRL_JOBS_AUTH_TOKEN, and a refusal quoted the last stderr line of any .py on the machine."""
    monkeypatch.setenv("TRL_JOBS_AUTH_TOKEN", "server-bearer-token-0123456789")
    canary = tmp_path / "canary"
    (tmp_path / "evil.py").write_text(
        f"import os, pathlib\npathlib.Path({str(canary)!r}).write_text(os.environ.get('TRL_JOBS_AUTH_TOKEN', ''))\n"
        "def reward(completions, **kwargs):\n    return [0.0 for _ in completions]\n")
    (tmp_path / "broken.py").write_text("password = 'hunter2-do-not-quote'\ndef reward(completions, **kwargs:\n")
    (tmp_path / "narrow.py").write_text("def reward(completions):\n    return [0.0 for _ in completions]\n")

    def dry(func: str) -> JobSpec:
        return build_training_spec(TrainingRequest(trainer="grpo", model="Qwen/Qwen2.5-0.5B", dataset="x/y",
                                                   reward_funcs=[func]),
                                   traits=TRAITS["local"], flavor=CPU, try_imports=True)

    assert dry(f"{tmp_path / 'evil.py'}:reward").command
    assert not canary.exists()  # read, never run
    with pytest.raises(InvalidJobSpec) as info:
        dry(f"{tmp_path / 'broken.py'}:reward")
    assert "is not valid Python (line 2" in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(InvalidJobSpec, match=r"takes no \*\*kwargs\. Define it as def reward\(completions, "):
        dry(f"{tmp_path / 'narrow.py'}:reward")


def test_the_job_loads_a_reward_file_under_a_name_trl_imports(tmp_path: Path) -> None:
    (tmp_path / "my rewards.py").write_text(REWARDS)
    code = ("import importlib, sys; from trl_jobs_mcp.jobs.recipes.entry import with_reward_files as w; "
            "args = w(['--reward_funcs', sys.argv[1], 'think_format_reward', '--seed=1']); "
            "mod, name = args[1].rsplit('.', 1); f = getattr(importlib.import_module(mod), name); "
            "print(args[2:], f(['abc']))")
    out = subprocess.run([sys.executable, "-P", "-c", code, f"{tmp_path / 'my rewards.py'}:short_reward"],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "['think_format_reward', '--seed=1'] [-3.0]"


# --- logging interval ---


def test_a_short_run_logs_about_twenty_points_and_says_so() -> None:
    notes: list[str] = []
    assert "--logging_steps=1" in build(max_steps=24, notes=notes).command
    assert any("logging_steps=1" in n and "max_steps=24" in n for n in notes)
    assert "--logging_steps=5" in build(max_steps=100).command
    # Given, by epoch, or a long run (TRL's 10 already gives enough): left alone.
    assert "--logging_steps=3" in build(max_steps=24, logging_steps=3).command
    for fields in ({"max_steps": 5000}, {"max_steps": 24, "logging_strategy": "epoch"}, {}):
        notes = []
        assert sum(a.startswith("--logging_steps") for a in build(notes=notes, **fields).command) <= 1
        assert not any("logging_steps=" in n and "not given" in n for n in notes)


# --- an evaluation on a single data file ---


def test_an_evaluation_on_a_single_file_holds_out_a_seeded_fraction(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", [{"text": f"row {i}"} for i in range(40)])
    notes: list[str] = []
    spec = build(dataset=str(data), eval_strategy="steps", eval_steps=5, seed=7, notes=notes)
    assert "--eval_strategy=steps" in spec.command
    assert any("10%" in n and "seed 7" in n for n in notes)
    refused("dataset_test_split", "'test'", dataset=str(data), eval_strategy="steps", dataset_test_split="valid")
    # In the job, the split is real, seeded, and the same for the same seed.
    code = ("import sys, pathlib; from trl_jobs_mcp.jobs.recipes.entry import with_data_folder as w; "
            "args = w(['--dataset_name', sys.argv[1], '--eval_strategy=steps', '--seed', '7'], "
            "pathlib.Path(sys.argv[2])); folder = pathlib.Path(args[1]); "
            "print(sorted(p.name for p in folder.iterdir())); "
            "print([len(open(folder / f).read().splitlines()) for f in ('train.jsonl', 'test.jsonl')]); "
            "print(open(folder / 'test.jsonl').read().replace(chr(10), '|'))")
    runs = [subprocess.run([sys.executable, "-P", "-c", code, str(data), str(tmp_path / f"run{i}")],
                           capture_output=True, text=True, check=True).stdout.splitlines() for i in range(2)]
    assert runs[0][0] == "[trl-jobs] chat.jsonl: 36 rows for training, 4 held out for evaluation (10%, seed 7)."
    assert runs[0][1] == "['test.jsonl', 'train.jsonl']" and runs[0][2] == "[36, 4]"
    assert runs[0][3] == runs[1][3]


# --- labels ---


@pytest.mark.anyio
async def test_a_model_from_an_earlier_job_is_labelled_by_that_job(make_backend, tmp_path: Path) -> None:
    backend = await make_backend()
    earlier = await backend.submit(JobSpec(command=[sys.executable, "-c", "pass"],
                                           labels={"trainer": "sft", "model": "tiny"}))
    output = backend.paths(earlier.id).output
    output.mkdir(parents=True, exist_ok=True)
    (output / "config.json").write_text("{}")
    pairs = str(write_jsonl(tmp_path / "p.jsonl", [PAIR]))
    assert build(trainer="dpo", model=str(output), dataset=pairs).labels["model"] == "tiny-sft"
    unlabelled = await backend.submit(JobSpec(command=[sys.executable, "-c", "pass"]))
    output = backend.paths(unlabelled.id).output
    output.mkdir(parents=True, exist_ok=True)
    assert build(trainer="dpo", model=str(output), dataset=pairs).labels["model"] == f"job-{unlabelled.id}"


def test_hf_labels_are_spelt_as_the_hub_and_the_command_line_spell_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = build("hf", GPU, labels={"run": "lr 1e-4"})
    assert spec.labels["model"] == "Qwen-Qwen2-5-0-5B" and spec.labels["run"] == "lr-1e-4"
    line = hf_jobs_command(spec)
    for key, value in spec.labels.items():
        assert f"--label {key}={value}" in line
    # The trait the recipe spells labels by is the Hub's own rule, as the hf backend applies it at launch and list.
    for value in ("Qwen/Qwen2.5-0.5B", "lr 1e-4", "é" * 120, "ok_-1"):
        assert HFBackend.traits.spell_label(value) == label_value(value)
    assert LocalBackend.traits.spell_label("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"


def test_the_checks_decide_by_traits_not_by_a_backends_name(tmp_path: Path) -> None:
    """A backend the recipe has never heard of (a cluster elsewhere, its own place and label rule) gets what its
    traits say: no local files, no file-form rewards, its own spelling of labels, and its place in the refusal."""
    (tmp_path / "rewards.py").write_text(REWARDS)
    elsewhere = BackendTraits(place="the cluster at ray://head:10001", runs_here=False, billed=False,
                              keeps_files=False, label_forbidden=r"[^a-z0-9]", label_max=8)
    request = TrainingRequest(trainer="grpo", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara",
                              reward_funcs=[f"{tmp_path / 'rewards.py'}:short_reward"])
    with pytest.raises(InvalidJobSpec) as info:
        build_training_spec(request, traits=elsewhere, flavor=GPU)
    assert info.value.field == "reward_funcs" and "the cluster at ray://head:10001 cannot reach" in str(info.value)
    spec = build_training_spec(request.model_copy(update={"reward_funcs": ["think_format_reward"]}),
                               traits=elsewhere, flavor=GPU, labels={"run": "Run 1"})
    assert spec.script and spec.labels == {"trainer": "grpo", "model": "-wen--we", "dataset": "trl-lib-",
                                           "run": "-un-1"}


# --- LoRA where the server has no peft ---


def test_lora_on_hf_needs_no_peft_on_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The job's packages are the job's: on hf, peft (and bitsandbytes for 4-bit) go into its uv dependencies
    whatever this server has; only a local job needs peft here, and its refusal says how to get it."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = build("hf", GPU, use_peft=True, extra_args={"load_in_4bit": True})
    assert {"peft", "bitsandbytes"} <= set(spec.dependencies) and "--use_peft=true" in spec.script_args
    assert "--with peft --with bitsandbytes" in hf_jobs_command(spec)
    refused("use_peft", "install the [local] extra", use_peft=True)


def test_held_out_share_and_early_stopping_are_checked_before_a_job_exists(tmp_path: Path) -> None:
    """Issue 20: eval_fraction and early stopping are our entry module's; where it does not run they are refused,
    and settings that cannot go with them name the field."""
    refused("eval_fraction", "dataset_test_split", backend="hf", flavor=GPU, eval_fraction=0.1)
    refused("early_stopping_patience", "Ray", backend="hf", flavor=GPU, early_stopping_patience=2)
    refused("save_strategy", "remove save_strategy", early_stopping_patience=2, eval_strategy="steps",
            save_strategy="epoch", max_steps=10)
    refused("early_stopping_threshold", "early_stopping_patience", early_stopping_threshold=0.01)
    refused("eval_fraction", "dataset_test_split", eval_fraction=0.1, dataset_test_split="validation")
    refused("dataset_split", "eval_fraction", dataset_split="train[:90%]")
    folder = write_jsonl(tmp_path / "only-train" / "train.jsonl", [MESSAGES] * 4).parent
    refused("eval_fraction", "'test' split", dataset=str(folder), eval_strategy="steps")
    refused("extra_args", "set `early_stopping_patience`", extra_args={"early_stopping_patience": 2})
    notes: list[str] = []
    spec = build(notes=notes, eval_fraction=0.2, early_stopping_patience=3, max_steps=40)
    assert {"--eval_fraction=0.2", "--eval_strategy=steps", "--eval_steps=2", "--save_strategy=steps",
            "--save_steps=2", "--load_best_model_at_end=true", "--metric_for_best_model=eval_loss",
            "--early_stopping_patience=3", "--save_total_limit=2"} <= set(spec.command), spec.command
    assert any("20% of the train split" in n for n in notes) and any("early stopping" in n for n in notes)
    assert not any(w.startswith("--save_total_limit") for w in build(save_strategy="no").command)
    own = build(extra_args={"save_total_limit": 5}).command
    assert [w for w in own if "save_total_limit" in w] == ["--save_total_limit=5"]
