"""Experiments on real tiny TRL runs through the tools on the local backend (issue 20): a held-out share, early
stopping, sweeps, comparing runs, continuing one, and the checkpoints a run keeps.

Every assertion holds whatever the arithmetic does, except where the dataset is built to force it: early stopping
trains on one sentence at a high learning rate and evaluates on sentences that share none of its words, so the
evaluation loss can only rise once the model has learnt that sentence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp_client import call, call_error, local_client, text_of

pytestmark = [pytest.mark.training, pytest.mark.timeout(420), pytest.mark.anyio]

ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
WAIT = 400


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def unlike(tmp_path: Path) -> Path:
    """A folder whose train split is one sentence, repeated, and whose test split shares none of its words."""
    folder = tmp_path / "unlike"
    _jsonl(folder / "train.jsonl", [{"text": "the cat likes the sun."}] * 64)
    _jsonl(folder / "test.jsonl", [{"text": w} for w in ("a robot builds quiet music", "my friend paints stars",
                                                          "an engineer measures warm bread", "stars follow a map")])
    return folder


async def _run(client, **arguments) -> tuple[str, dict]:
    _, launched = await call(client, "launch_training", env=ENV, **arguments)
    return await call(client, "wait_for_job", job_id=launched["job_id"], timeout=WAIT)


async def test_early_stopping_fires_when_the_eval_loss_rises(tiny: dict[str, Path], unlike: Path,
                                                             state_dir: Path) -> None:
    async with local_client(state_dir) as client:
        text, dry = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(unlike),
                               max_steps=40, learning_rate=0.01, per_device_train_batch_size=4, eval_steps=2,
                               eval_strategy="steps", early_stopping_patience=2, env=ENV, dry_run=True)
        assert "--load_best_model_at_end=true" in dry["command"] and "--save_steps=2" in dry["command"]
        assert "early stopping" in text and "--metric_for_best_model=eval_loss" in dry["command"]
        text, done = await _run(client, model=str(tiny["model"]), dataset=str(unlike), max_steps=40,
                                learning_rate=0.01, per_device_train_batch_size=4, eval_steps=2,
                                eval_strategy="steps", early_stopping_patience=2)
    assert done["stage"] == "COMPLETED", text
    outcome = done["model"]["outcome"]
    assert outcome["stopped_early"] and outcome["global_step"] < 40, outcome
    assert outcome["best_checkpoint"].startswith("checkpoint-")
    assert f"stopped early at step {outcome['global_step']} of 40" in text
    assert f"the model is the best checkpoint, {outcome['best_checkpoint']}" in text
    assert done["step"] == outcome["global_step"]  # the answer's step is where it stopped
    kept = sorted(p.name for p in Path(done["model"]["output_dir"]).iterdir() if p.name.startswith("checkpoint-"))
    assert outcome["best_checkpoint"] in kept and len(kept) <= 2, kept  # save_total_limit=2 keeps the best


async def test_eval_fraction_holds_out_a_seeded_share_said_in_the_log(tiny: dict[str, Path],
                                                                      state_dir: Path) -> None:
    data = str(tiny["sft_text"] / "train.jsonl")  # 64 rows
    async with local_client(state_dir) as client:
        text, dry = await call(client, "launch_training", model=str(tiny["model"]), dataset=data, max_steps=2,
                               eval_fraction=0.25, seed=7, env=ENV, dry_run=True)
        assert "25% of the train split's rows are held out as the test split (seed 7)" in text
        assert "--eval_fraction=0.25" in dry["command"] and "--eval_strategy=steps" in dry["command"]
        refused = await call_error(client, "launch_training", model=str(tiny["model"]), dataset=data,
                                   dataset_split="train[:90%]", env=ENV, dry_run=True)
        assert "eval_fraction" in refused and "dataset_split" in refused
        text, done = await _run(client, model=str(tiny["model"]), dataset=data, max_steps=2, eval_fraction=0.25,
                                seed=7, per_device_train_batch_size=2)
        log, _ = await call(client, "fetch_logs", job_id=done["job_id"], tail=500)
    assert done["stage"] == "COMPLETED", text
    assert "train.jsonl: 48 rows for training, 16 held out for evaluation (25%, seed 7)." in log


LRS = [1e-4, 3e-4, 1e-3]


async def test_a_three_value_sweep_runs_as_one_experiment(tiny: dict[str, Path], state_dir: Path) -> None:
    common = dict(model=str(tiny["model"]), dataset=str(tiny["sft_text"]), max_steps=3,
                  per_device_train_batch_size=2, logging_steps=1, env=ENV, sweep={"learning_rate": LRS})
    async with local_client(state_dir) as client:
        text, dry = await call(client, "launch_training", dry_run=True, **common)
        assert [r["arguments"] for r in dry["runs"]] == [{"learning_rate": lr} for lr in LRS]
        assert all(f"--learning_rate={lr}" in r["command"] for r, lr in zip(dry["runs"], LRS))
        assert "a sweep of 3 runs" in text and dry["job_id"] is None
        assert (await call(client, "list_jobs"))[1]["jobs"] == []  # a dry run created nothing
        refused = await call_error(client, "launch_training", dry_run=True,
                                   **{**common, "sweep": {"learning_rate": LRS, "seed": list(range(6))}})
        assert "sweep" in refused and "18 runs; at most 16" in refused
        text, swept = await call(client, "launch_training", **common)
        experiment = swept["experiment"]
        ids = [r["job_id"] for r in swept["runs"]]
        assert len(set(ids)) == 3 and f"compare_runs with runs=['{experiment}']" in text
        for job_id in ids:
            _, done = await call(client, "wait_for_job", job_id=job_id, timeout=WAIT)
            assert done["stage"] == "COMPLETED", done
        _, listed = await call(client, "list_jobs", labels={"experiment": experiment})
        plotted = await client.call_tool("compare_runs", {"runs": [experiment], "plot": True})
        text, compared = text_of(plotted), plotted.structured_content or {}
        result = await client.call_tool("compare_runs", {"runs": ids[:2]})
    assert sorted(j["id"] for j in listed["jobs"]) == sorted(ids)
    assert [r["job_id"] for r in compared["runs"]] == ids  # in launch order
    assert [r["differs"] for r in compared["runs"]] == [{"learning_rate": str(lr)} for lr in LRS]
    assert compared["metric"] == "loss" and compared["goal"] == "min"
    finals = {r["job_id"]: r["metrics"]["loss"]["final"] for r in compared["runs"]}
    assert compared["best"] == min(finals, key=finals.get)
    assert f"Best by final loss: {compared['best']}" in text and "rerun_job with job_id=" in text
    assert all(r["step"] == 3 and r["stage"] == "COMPLETED" for r in compared["runs"])
    assert [b.type for b in plotted.content] == ["text", "image"]  # the overlay, asked for
    assert [b.type for b in result.content] == ["text"] and len(result.structured_content["runs"]) == 2
    assert all(listed["headline"][i].startswith("loss ") for i in ids), listed["headline"]


async def test_a_sweep_dry_run_on_hf_sums_the_cost_ceiling(fake_hf) -> None:
    from mcp_client import hf_client

    async with hf_client(fake_hf, max_cost_usd=1.0) as client:
        text, dry = await call(client, "launch_training", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara",
                               flavor="t4-small", use_peft=True, timeout="1h", dry_run=True,
                               sweep={"learning_rate": LRS, "num_train_epochs": [1, 2]})
        assert len(dry["runs"]) == 6 and len(fake_hf.jobs) == 0
        assert dry["cost_ceiling_usd"] == round(sum(r["cost_ceiling_usd"] for r in dry["runs"]), 4)
        assert "applies to their sum" in text  # one t4-small hour is $0.40, six are over $1
        refused = await call_error(client, "launch_training", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara",
                                   flavor="t4-small", use_peft=True, timeout="1h", sweep={"learning_rate": LRS})
        assert "sweep" in refused and len(fake_hf.jobs) == 0


async def test_a_finished_run_continued_counts_global_steps_and_keeps_two_checkpoints(
        tiny: dict[str, Path], state_dir: Path) -> None:
    common = dict(model=str(tiny["model"]), dataset=str(tiny["sft_text"]), per_device_train_batch_size=2,
                  logging_steps=1, save_steps=1)
    async with local_client(state_dir) as client:
        text, _ = await call(client, "launch_training", max_steps=4, env=ENV, dry_run=True, **common)
        assert "save_total_limit=2" in text
        text, first = await _run(client, max_steps=4, **common)
        assert first["stage"] == "COMPLETED", text
        _, inspected = await call(client, "inspect_job", job_id=first["job_id"])
        outputs = inspected["outputs"]
        # Four were saved, one a step; the two newest are kept.
        assert [c["name"] for c in outputs["checkpoints"]] == ["checkpoint-3", "checkpoint-4"], outputs
        assert outputs["bytes"] > sum(c["bytes"] for c in outputs["checkpoints"]) > 0

        refused = await call_error(client, "rerun_job", job_id=first["job_id"], resume=True)
        assert "more_steps" in refused and "max_steps=4" in refused
        text, again = await call(client, "rerun_job", job_id=first["job_id"], resume=True, more_steps=2)
        assert "Continues from step 4 to step 6" in text and "learning-rate schedule (linear)" in text
        assert "--max_steps=6" in again["command"]
        busy = await call_error(client, "cancel_job", job_id=again["job_id"], delete_files=True)
        assert "delete_files" in busy and "cancel_job" in busy
        text, resumed = await call(client, "wait_for_job", job_id=again["job_id"], timeout=WAIT)
        assert resumed["stage"] == "COMPLETED", text
        assert (resumed["step"], resumed["total_steps"]) == (6, 6), text
        _, metrics = await call(client, "job_metrics", job_id=again["job_id"], plot=False)
        assert metrics["series"]["loss"]["steps"] == [5, 6] and metrics["last_step"] == 6, metrics
        assert resumed["model"]["outcome"]["resumed_at"] == 4

        _, listed = await call(client, "list_jobs")
        assert listed["disk_bytes"] >= outputs["bytes"]
        text, deleted = await call(client, "cancel_job", job_id=first["job_id"], delete_files=True)
        assert deleted["freed"]["bytes"] == outputs["bytes"] and "checkpoint-3, checkpoint-4" in text
        assert not Path(outputs["folder"]).exists()
        _, still = await call(client, "inspect_job", job_id=first["job_id"])
        assert still["job"]["stage"] == "COMPLETED" and still["outputs"] is None  # the record stays
        text, twice = await call(client, "cancel_job", job_id=first["job_id"], delete_files=True)
        assert twice["freed"] is None and "already deleted" in text
