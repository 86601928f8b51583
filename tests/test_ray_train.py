"""Training across nodes on a real two-node Ray cluster on this machine (tests/ray_head.py: the session's head and
a worker node, 2 CPUs and 17 GB each): launch_training with workers=2 runs a Ray Train TorchTrainer whose two
workers (gloo on CPUs) each hold a cpu-basic's worth, so one lands on each node.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp_client import call, call_error, connect
from polling import eventually
from ray_head import RayHead, RayWorkerNode

from trl_jobs_mcp.server.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.training, pytest.mark.timeout(1200)]

RUN_S = 600  # two TRL workers on a loaded two-core machine
JOB_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}


def settings(head: RayHead, home: Path) -> Settings:
    return Settings.from_env({}, backend="ray", home=home, ray_address=head.address, ray_cluster_env=True)


def training(tiny: dict[str, Path], output: Path, **more: Any) -> dict[str, Any]:
    return {"trainer": "sft", "model": str(tiny["model"]), "dataset": str(tiny["sft"] / "train.jsonl"),
            "per_device_train_batch_size": 2, "logging_steps": 1, "output_dir": str(output), "env": JOB_ENV,
            "workers": 2, **more}


def train_workers(head: RayHead, job_id: str, *, alive: bool = True) -> list[dict[str, Any]]:
    """The job's Ray Train worker actors, from the state API (those ALIVE, or all)."""
    ray_job = httpx2.get(f"{head.address}/api/jobs/{job_id}", timeout=10).json().get("job_id")
    actors = httpx2.get(f"{head.address}/api/v0/actors", params={"detail": "1", "limit": "10000"},
                        timeout=30).json()["data"]["result"]["result"]
    return [a for a in actors if ray_job and a.get("job_id") == ray_job and a.get("class_name") == "RayTrainWorker"
            and (a.get("state") == "ALIVE" or not alive)]


async def test_two_workers_one_per_node_train_save_and_resume(ray_head: RayHead, ray_worker_node: RayWorkerNode,
                                                              tmp_path: Path, tiny: dict[str, Path]) -> None:
    output = tmp_path / "out"
    async with connect(settings(ray_head, tmp_path / "state")) as client:
        text, planned = await call(client, "launch_training", dry_run=True, max_steps=2,
                                   **training(tiny, output))
        assert "trl_jobs_ray.train --workers 2 --cpus 2" in text, text
        error = await call_error(client, "launch_training", dry_run=True, **training(tiny, output, workers=3))
        assert "at most 2 workers of cpu-basic" in error and "workers" in error

        _, out = await call(client, "launch_training", max_steps=2, save_strategy="steps", save_steps=1,
                            **training(tiny, output))
        job_id = out["job_id"]
        _, done = await call(client, "wait_for_job", job_id=job_id, timeout=RUN_S)
        assert done["stage"] == "COMPLETED", done
        workers = train_workers(ray_head, job_id, alive=False)
        assert len({w["node_id"] for w in workers}) == 2, workers  # one worker on each node

        _, again = await call(client, "rerun_job", job_id=job_id, resume=True, more_steps=1)
        _, redone = await call(client, "wait_for_job", job_id=again["job_id"], timeout=RUN_S)
        assert redone["stage"] == "COMPLETED", redone
        _, inspected = await call(client, "inspect_job", job_id=again["job_id"])
    assert (output / "model.safetensors").exists() and "sft" in (output / "README.md").read_text()
    assert (output / "checkpoint-2" / "rng_state_1.pth").exists()  # TRL saw a world of two processes
    assert list((output / "ray-train").glob("checkpoint_*"))  # Ray Train's copies, at the run's storage path
    assert f"--resume_from_checkpoint={output / 'checkpoint-2'}" in inspected["job"]["command"]


async def test_cancel_stops_the_workers_on_both_nodes(ray_head: RayHead, ray_worker_node: RayWorkerNode,
                                                      tmp_path: Path, tiny: dict[str, Path]) -> None:
    async with connect(settings(ray_head, tmp_path / "state")) as client:
        _, out = await call(client, "launch_training", max_steps=100000, save_strategy="no",
                            **training(tiny, tmp_path / "out"))
        job_id = out["job_id"]
        workers = await eventually(lambda: _on_two_nodes(ray_head, job_id), timeout=RUN_S, interval=1.0,
                                   what="two Ray Train workers, one on each node")
        _, canceled = await call(client, "cancel_job", job_id=job_id)
        assert canceled["stage"] == "CANCELED" and not canceled["already_finished"], canceled
    pids = [w["pid"] for w in workers]
    await eventually(lambda: not train_workers(ray_head, job_id) and not any(os.path.exists(f"/proc/{p}")
                                                                             for p in pids),
                     timeout=60, interval=0.5, what="the workers on both nodes to be gone")


def _on_two_nodes(head: RayHead, job_id: str) -> list[dict[str, Any]] | None:
    workers = train_workers(head, job_id)
    return workers if len({w["node_id"] for w in workers}) == 2 else None
