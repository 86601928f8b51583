"""Whole conversations through the protocol, on the tiny offline model and real TRL.

1. Launch a short SFT, list it, inspect it, page through its log with `since` until it is finished, reach COMPLETED,
   and find the trained model and its model card in the output folder.
2. Launch a long SFT, wait until it is training, cancel it, see CANCELED and no process left in its groups; a
   second cancel changes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mcp_client import call, local_client
from polling import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.training]

DEADLINE = 240.0


def process_groups() -> dict[int, list[int]]:
    """{process group id: [pids]} for every process on this machine (Linux /proc)."""
    groups: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields[0] == b"Z":
            continue
        groups.setdefault(int(fields[2]), []).append(int(entry))
    return groups


async def test_sft_from_launch_to_a_trained_model_with_its_card(state_dir: Path, tiny: dict[str, Path]) -> None:
    async with local_client(state_dir) as client:
        text, launched = await call(client, "launch_training", trainer="sft", model=str(tiny["model"]),
                                    dataset=str(tiny["sft"]), max_steps=6, logging_steps=1,
                                    labels={"flow": "complete"})
        job_id = launched["job_id"]
        assert job_id and launched["stage"] in ("SCHEDULING", "RUNNING")
        assert f"Call wait_for_job with job_id={job_id}" in text

        text, listed = await call(client, "list_jobs", labels={"flow": "complete"})
        assert [job["id"] for job in listed["jobs"]] == [job_id]
        assert job_id in text

        text, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["job"]["id"] == job_id and inspected["job"]["labels"]["trainer"] == "sft"

        # Page forward: each call returns only what is new, and the pages join into the whole log.
        since, pages = 0, []

        async def next_page() -> bool:
            nonlocal since
            text, chunk = await call(client, "fetch_logs", job_id=job_id, since=since)
            assert chunk["next_since"] >= since
            if not chunk["finished"]:
                assert f"since={chunk['next_since']}" in text
            pages.append(chunk["lines"])
            since = chunk["next_since"]
            return chunk["finished"]

        await eventually(next_page, timeout=DEADLINE, interval=0.5, what=f"job {job_id}'s log to finish")
        paged = [line for page in pages for line in page]
        assert sum(1 for page in pages if page) >= 1
        losses = [line for line in paged if "'loss'" in line]
        assert len(losses) == 6, paged[-20:]

        _, tail = await call(client, "fetch_logs", job_id=job_id, tail=len(paged))
        assert tail["lines"] == paged and tail["finished"] is True

        text, final = await call(client, "inspect_job", job_id=job_id)
        job = final["job"]
        assert job["stage"] == "COMPLETED", text
        assert final["finished"] is True and "COMPLETED" in text
        output = Path(job["output_dir"])
        assert str(output) in text

        text, canceled = await call(client, "cancel_job", job_id=job_id)
        assert canceled["already_finished"] is True and canceled["stage"] == "COMPLETED"
        assert "already finished" in text

    assert (output / "model.safetensors").is_file() and (output / "config.json").is_file()
    card = (output / "README.md").read_text()
    assert "sft" in card.lower()
    assert json.loads((output / "config.json").read_text())["model_type"] == "qwen2"


async def test_cancel_stops_a_running_job_and_leaves_no_process(state_dir: Path, tiny: dict[str, Path]) -> None:
    async with local_client(state_dir) as client:
        _, launched = await call(client, "launch_training", model=str(tiny["model"]), dataset=str(tiny["sft"]),
                                 max_steps=1_000_000, logging_steps=1, save_strategy="no")
        job_id = launched["job_id"]

        # Wait until it is really training (a loss line in the log), so the cancel stops work in progress.
        since = 0

        async def training() -> bool:
            nonlocal since
            _, chunk = await call(client, "fetch_logs", job_id=job_id, since=since)
            assert not chunk["finished"], chunk["lines"][-20:]
            since = chunk["next_since"]
            return any("'loss'" in line for line in chunk["lines"])

        await eventually(training, timeout=DEADLINE, interval=0.3, what=f"job {job_id} to log a training loss")

        proc = json.loads((state_dir / "jobs" / job_id / "proc.json").read_text())
        groups = {pid for key, pid in proc.items() if key in ("pid", "child") and isinstance(pid, int)}
        assert groups and any(g in process_groups() for g in groups), "the job's processes should be running"

        text, canceled = await call(client, "cancel_job", job_id=job_id)
        assert canceled["stage"] == "CANCELED" and canceled["already_finished"] is False
        assert "CANCELED" in text

        _, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["job"]["stage"] == "CANCELED"
        left = {g: pids for g, pids in process_groups().items() if g in groups}
        assert left == {}, f"processes left in the job's groups: {left}"

        text, again = await call(client, "cancel_job", job_id=job_id)
        assert again["already_finished"] is True and again["stage"] == "CANCELED"
        assert "nothing was changed" in text
