"""Rows and tokens of a dataset before a job runs (jobs.dataset_size): local files counted, Hub datasets read from
the dataset viewer (the fake serves /size and /statistics in the real shapes) or the card, else a guess said so."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from fake_hf_jobs import FakeHFJobs
from fake_viewer import viewer_dataset

from trl_jobs_mcp.jobs.analysis.dataset_size import dataset_size, local_dataset_size


def test_a_jsonl_file_is_counted_rows_and_characters_over_four(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [{"messages": [{"role": "user", "content": "a" * 30}, {"role": "assistant", "content": "b" * 50}]}] * 7
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    size = local_dataset_size(path)
    assert size is not None
    assert (size.rows, size.tokens_per_row, size.source) == (7, 20.0, "counted")  # (30 + 50) / 4
    assert "characters / 4" in size.note


def test_csv_json_and_a_folder_of_them(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("prompt,completion\n" + "xxxx,yyyy\n" * 5)
    (tmp_path / "b.json").write_text(json.dumps([{"text": "z" * 16}] * 3))
    assert local_dataset_size(tmp_path / "a.csv").rows == 5
    assert local_dataset_size(tmp_path / "b.json").tokens_per_row == 4.0
    both = local_dataset_size(tmp_path)
    assert both is not None and both.rows == 8
    assert local_dataset_size(tmp_path / "missing.jsonl") is None


def test_a_hub_dataset_is_read_from_the_viewers_size_and_statistics(fake_hf: FakeHFJobs) -> None:
    fake_hf.viewer["org/chat"] = viewer_dataset("org/chat", splits={"train": (16_000, {"prompt": 400.0,
                                                                                       "answer": 1600.0}),
                                                                    "test": (200, {"prompt": 400.0, "answer": 1.0})})
    size = dataset_size("org/chat")
    assert (size.rows, size.tokens_per_row, size.source) == (16_000, 500.0, "viewer")
    assert ("GET", "/statistics", "dataset=org%2Fchat&config=default&split=train") in fake_hf.requests
    assert dataset_size("org/chat", split="test").rows == 200


def test_without_the_viewer_the_card_says_and_else_a_guess_says_so(fake_hf: FakeHFJobs) -> None:
    fake_hf.datasets["org/carded"] = {"dataset_info": {"features": [{"name": "text", "dtype": "string"}],
                                                       "splits": [{"name": "train", "num_bytes": 80_000,
                                                                   "num_examples": 100}]}}
    carded = dataset_size("org/carded")
    assert (carded.rows, carded.tokens_per_row, carded.source) == (100, 200.0, "card")
    unknown = dataset_size("org/nothing-known")
    assert unknown.source == "guessed" and "guessed" in unknown.note


def test_an_unreachable_hub_costs_seconds_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that accepts nothing: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("TRL_JOBS_DATASET_VIEWER", url)
    assert dataset_size("org/unreachable").source == "guessed"  # a hang would meet the per-test timeout
