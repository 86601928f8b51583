"""Every failure jobs.diagnose recognises, produced for real in a child process and read back from its output.

The children run once per module, side by side: two real TRL runs on the tiny model (bf16 on a CPU, NaN from an
absurd learning rate), the real transformers, datasets and torch code in one child (a fake Hub that refuses in the
Hub's own way, a missing optional package, torch's allocator refusing), an offline Hub, and small scripts that
exhaust memory, miss a module, fill a disk or die by SIGKILL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_hub import FakeHub
from trl_jobs_mcp.jobs.analysis.diagnose import Diagnosis, diagnose

# Its module fixture runs real TRL training (measured up to 211 s under a loaded shared machine): more than
# the suite's per-test timeout (pyproject), which fits every other test.
pytestmark = pytest.mark.timeout(360)

CHILDREN = Path(__file__).parent / "children"
SECRET = "hf_diagnose_secret_token_1234"


@dataclass
class Outcome:
    returncode: int
    lines: list[str]


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=240)
    return Outcome(done.returncode, done.stdout.splitlines())


def _sft(tiny: dict[str, Path], out: Path, *extra: str, trainer: str = "sft") -> list[str]:
    return [sys.executable, "-m", f"trl.scripts.{trainer}", "--model_name_or_path", str(tiny["model"]),
            "--dataset_name", str(tiny["sft"]), "--output_dir", str(out), "--report_to", "none",
            "--max_steps", "4", "--logging_steps", "1", "--save_strategy", "no", *extra]


@pytest.fixture(scope="module")
def failures(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    work = tmp_path_factory.mktemp("diag")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRACKIO"))}
    base.update(PYTHONUNBUFFERED="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HOME=str(work / "hf_home"))
    offline = dict(base, HF_HUB_OFFLINE="1")
    script = [sys.executable]
    with FakeHub() as hub_url:
        hub = dict(base, HF_ENDPOINT=hub_url, HF_HUB_OFFLINE="0", HF_TOKEN=SECRET)
        jobs = {
            "bf16_on_cpu": (_sft(tiny, work / "bf16", "--bf16", "true"), offline),
            # DPO on conversational `messages` rows: TRL stops on KeyError: 'chosen' while preparing the data.
            "dataset_columns": (_sft(tiny, work / "dpo", "--bf16", "false", trainer="dpo"), offline),
            "known_package": ([*script, "-c", "import vllm"], base),
            "nan": (_sft(tiny, work / "nan", "--bf16", "false", "--learning_rate", "1e38", "--max_grad_norm", "0"),
                    offline),
            "library": ([*script, str(CHILDREN / "library_failures.py"), str(work)], hub),
            "offline": ([*script, "-c", "import datasets; datasets.load_dataset('someorg/some-data')"], offline),
            "memory_error": ([*script, str(CHILDREN / "memory_error.py")], base),
            "missing_module": ([*script, str(CHILDREN / "missing_module.py")], base),
            "disk_full": ([*script, str(CHILDREN / "disk_full.py")], base),
            "sigkill": ([*script, str(CHILDREN / "sigkill.py")], base),
        }
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {name: pool.submit(_run, argv, env, work) for name, (argv, env) in jobs.items()}
            outcomes = {name: future.result() for name, future in futures.items()}
    # The library child prints one traceback per case after a marker line; split them into outcomes of their own.
    library = outcomes.pop("library")
    assert library.returncode == 0, "\n".join(library.lines[-30:])
    case = None
    for line in library.lines:
        if line.startswith("=== "):
            case = line[4:].strip()
            outcomes[case] = Outcome(1, [])
        elif case is not None:
            outcomes[case].lines.append(line)
    return outcomes


def _diagnosed(outcome: Outcome, **kwargs: object) -> Diagnosis:
    found = diagnose(lines=outcome.lines, exit_code=outcome.returncode, **kwargs)
    assert found is not None, "not recognised:\n" + "\n".join(outcome.lines[-25:])
    assert "\n" not in found.fix and len(found.fix) < 300
    return found


def test_bf16_on_cpu_from_a_real_trl_run(failures: dict[str, Outcome]) -> None:
    outcome = failures["bf16_on_cpu"]
    assert outcome.returncode != 0
    found = _diagnosed(outcome)
    assert found.cause == "mixed_precision_on_cpu"
    assert "use_cpu=true" in found.fix and "drop bf16" in found.fix and "list_hardware" in found.fix
    assert "bf16" in (found.evidence or "")


def test_nan_from_a_real_trl_run_that_diverged(failures: dict[str, Outcome]) -> None:
    outcome = failures["nan"]
    # The run "succeeds" while its gradients are NaN: the diagnosis must still see it.
    assert outcome.returncode == 0
    found = _diagnosed(outcome)
    assert found.cause == "nan_loss"
    assert "learning_rate" in found.fix


def test_package_named_by_an_import_error_hint(failures: dict[str, Outcome]) -> None:
    found = _diagnosed(failures["pip_hint"])
    assert found.cause == "missing_module"
    assert "liger-kernel" in found.fix and "dependencies" in found.fix


def test_a_missing_module_of_the_users_own_is_not_a_package_to_install(failures: dict[str, Outcome]) -> None:
    """A reward module the job could not find (`import trl_jobs_reward_helpers`) is the user's own code: the fix
    points to the file form and PYTHONPATH, and never to `pip install` of a same-named stranger."""
    found = _diagnosed(failures["missing_module"])
    assert found.cause == "missing_module"
    assert "trl_jobs_reward_helpers" in found.title
    assert "pip install" not in found.fix and "trl-jobs-reward-helpers" not in found.fix
    assert "PYTHONPATH" in found.fix and "rewards.py:func" in found.fix


def test_a_missing_known_package_is_named_for_installing(failures: dict[str, Outcome]) -> None:
    found = _diagnosed(failures["known_package"])
    assert found.cause == "missing_module"
    assert "pip install vllm" in found.fix and "dependencies" in found.fix


def test_columns_that_do_not_fit_the_trainer_from_a_real_trl_run(failures: dict[str, Outcome]) -> None:
    outcome = failures["dataset_columns"]
    assert outcome.returncode != 0
    found = _diagnosed(outcome)
    assert found.cause == "dataset_columns"
    assert "KeyError: 'chosen'" in (found.evidence or "")
    assert "prompt/chosen/rejected" in found.fix and "messages" in found.fix


@pytest.mark.parametrize("case", ["memory_error", "torch_cpu_oom"])
def test_out_of_memory(failures: dict[str, Outcome], case: str) -> None:
    found = _diagnosed(failures[case])
    assert found.cause == "out_of_memory"
    assert found.title == "Out of memory (RAM)"
    assert "per_device_train_batch_size" in found.fix and "recommend_hardware" in found.fix


def test_sigkill_with_a_silent_log_reads_as_out_of_memory(failures: dict[str, Outcome]) -> None:
    outcome = failures["sigkill"]
    assert outcome.returncode == -9
    found = _diagnosed(outcome)
    assert found.cause == "out_of_memory" and "SIGKILL" in found.title
    # The same death after a cancel is the cancel, not memory; and exit code 137 (a shell's view) reads the same.
    assert diagnose(lines=outcome.lines, exit_code=-9, canceled=True) is None
    assert diagnose(lines=outcome.lines, exit_code=137).cause == "out_of_memory"  # type: ignore[union-attr]


def test_disk_full(failures: dict[str, Outcome]) -> None:
    found = _diagnosed(failures["disk_full"])
    assert found.cause == "disk_full"
    assert "save_total_limit" in found.fix


@pytest.mark.parametrize(("case", "cause", "name"), [
    ("model_not_found", "model_not_found", "someorg/no-such-model"),
    ("model_local_missing", "model_not_found", "no-such-model-dir"),
    ("dataset_not_found", "dataset_not_found", "someorg/no-such-data"),
    ("dataset_local_missing", "dataset_not_found", "no-such-data-dir"),
    ("model_gated", "gated_repo", "someorg/gated-model"),
    ("dataset_gated", "gated_repo", "datasets/someorg/gated-data"),
    ("model_bad_token", "bad_token", None),
])
def test_hub_failures(failures: dict[str, Outcome], case: str, cause: str, name: str | None) -> None:
    found = _diagnosed(failures[case])
    assert found.cause == cause
    if name:
        assert name in found.title and name in found.fix
    assert "HF_TOKEN" in found.fix
    assert SECRET not in found.text


def test_offline_hub(failures: dict[str, Outcome]) -> None:
    found = _diagnosed(failures["offline"])
    assert found.cause == "hub_unreachable"
    assert "HF_HUB_OFFLINE" in found.fix


def test_every_cause_is_produced_for_real(failures: dict[str, Outcome]) -> None:
    """Pins the rule of this module: no cause is recognised that no real failure above produces (timeout aside:
    it is the backend's own message, checked through inspect_job in test_conversation; idle too: the idle guard
    produces it for real in test_guard, on both backends)."""
    import typing

    from trl_jobs_mcp.jobs.analysis.diagnose import Cause

    seen = {found.cause for outcome in failures.values() if (found := diagnose(
        lines=outcome.lines, exit_code=outcome.returncode)) is not None}
    assert seen | {"timeout", "idle"} == set(typing.get_args(Cause))


def test_timeout_is_read_from_the_message() -> None:
    found = diagnose(lines=["{'loss': '2.0', 'epoch': '0.5'}"], message="Job timed out after 30m", exit_code=-15)
    assert found is not None and found.cause == "timeout"
    assert "timeout=" in found.fix


def test_a_successful_log_and_an_unknown_failure_are_not_diagnosed() -> None:
    assert diagnose(lines=["{'loss': '6.0', 'epoch': '0.1'}", "{'train_runtime': '1.0', 'train_loss': '5.0'}"],
                    exit_code=0) is None
    unknown = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
               "    raise ValueError(\"No module named 'quoted_in_source'\")", "ValueError: something else"]
    assert diagnose(lines=unknown, exit_code=1) is None


def test_the_last_traceback_wins() -> None:
    """A handled error early in the log (here a missing optional module) does not mask the one that ended the run."""
    lines = ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'wandb'",
             "falling back to no reporting", "Traceback (most recent call last):", "MemoryError"]
    found = diagnose(lines=lines, exit_code=1)
    assert found is not None and found.cause == "out_of_memory"
