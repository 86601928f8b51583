"""Calibration (jobs.calibration): a finished run's measured speed changes the next forecast, inspect_job shows
the forecast against the actual duration. A real tiny SFT run on the local backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp_client import call, local_client

from trl_jobs_mcp.jobs.analysis.calibration import FILE_NAME

pytestmark = [pytest.mark.anyio, pytest.mark.training, pytest.mark.timeout(300)]


async def test_a_finished_run_calibrates_the_next_forecast(tmp_path: Path, tiny: dict[str, Path]) -> None:
    home = tmp_path / "state"
    run: dict[str, Any] = dict(model=str(tiny["model"]), dataset=str(tiny["sft"]), max_steps=4,
                               per_device_train_batch_size=2, logging_steps=1, save_strategy="no",
                               env={"HF_HUB_OFFLINE": "1"})
    async with local_client(home) as client:
        _, before = await call(client, "launch_training", **run, dry_run=True)
        assert before["forecast"]["calibrated"] is None
        assert before["forecast"]["total_steps"] == 4
        _, launched = await call(client, "launch_training", **run)
        job_id = launched["job_id"]
        ended: dict[str, Any] = {}
        while not ended.get("finished"):
            _, ended = await call(client, "wait_for_job", job_id=job_id, timeout=120)
        assert ended["stage"] == "COMPLETED"
        text, inspected = await call(client, "inspect_job", job_id=job_id)
        _, after = await call(client, "launch_training", **run, dry_run=True)
    assert "Forecast" in inspected["forecast"] and "actual" in inspected["forecast"] and "actual" in text
    stored = json.loads((home / FILE_NAME).read_text())
    assert stored["forecasts"][job_id]["recorded"] is True
    (measured,) = [r for runs in stored["runs"].values() for r in runs]
    assert measured["job_id"] == job_id
    forecast = after["forecast"]
    assert forecast["calibrated"] == "calibrated from 1 of your runs on cpu-basic"
    assert forecast["train_seconds"] == pytest.approx(forecast["first_guess_train_seconds"] * measured["factor"],
                                                      rel=1e-3, abs=0.11)
    assert forecast["seconds_likely"] == pytest.approx(measured["startup_s"] + forecast["train_seconds"], abs=0.2)
