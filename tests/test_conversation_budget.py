"""The first four requests of issue 11, as scripted conversations through the protocol that follow only the results'
own hints, each within the number of calls an attentive assistant needs (3, 4, 1 and 5; they took 5, 7, 1 and 11).

The script is the assistant: it chooses the first call from the user's words, and every later call is one the
previous result named ("Call wait_for_job with job_id=..."), or the fix a refusal or a diagnosis named. It answers
from what the results say, never from what the test knows. The wait is the one liberty: a client that keeps a call
alive on progress notifications may wait longer than the default, so wait_for_job gets timeout=300.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp import Client
from mcp_client import hf_client, local_client, text_of

pytestmark = pytest.mark.anyio

WAIT = 300
TOOLS = ("launch_training", "list_jobs", "inspect_job", "fetch_logs", "cancel_job", "run_job", "list_hardware",
         "recommend_hardware", "wait_for_job", "job_metrics")
# "Call wait_for_job with job_id=3f2a since=120", "or cancel_job with job_id=3f2a", "Call list_jobs".
_CALL = re.compile(rf"\b({'|'.join(TOOLS)})(?: with ((?:\w+=[^\s,;]+ ?)+))?")


@dataclass
class Assistant:
    """A conversation: the calls made, and the calls the last result named."""

    client: Client
    calls: list[str] = field(default_factory=list)
    hinted: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def ask(self, tool: str, *, hinted: bool = True, **arguments: Any) -> tuple[str, dict[str, Any], bool]:
        """Make one call. `hinted`: the previous result named this tool (the first call of a request is not)."""
        if hinted:
            assert tool in [name for name, _ in self.hinted], f"{tool} was not suggested: {self.hinted}"
        result = await self.client.call_tool(tool, arguments)
        self.calls.append(tool)
        text = text_of(result)
        self.hinted = [(name, dict(a.rstrip(".").split("=", 1) for a in (args or "").split()))
                       for name, args in _CALL.findall(text)]
        return text, result.structured_content or {}, bool(result.is_error)

    def hint(self, tool: str) -> dict[str, str]:
        """The arguments the last result gave for `tool`."""
        return next(args for name, args in self.hinted if name == tool)


@pytest.fixture
def data(tiny: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """The user's own files: a model folder and two .jsonl files."""
    sft = tmp_path / "chat.jsonl"
    shutil.copy(tiny["sft"] / "train.jsonl", sft)
    prefs = tmp_path / "prefs.jsonl"
    shutil.copy(next((tiny["dpo"]).glob("*.jsonl")), prefs)
    return {"model": tiny["model"], "sft": sft, "dpo": prefs}


async def test_local_sft_then_dpo_then_everything_stopped(state_dir: Path, data: dict[str, Path]) -> None:
    async with local_client(state_dir) as client:
        # 1. "Fine-tune my model at DIR on chat.jsonl, a short run, and tell me how the loss went." (at most 3)
        me = Assistant(client)
        text, launched, error = await me.ask("launch_training", hinted=False, trainer="sft", model=str(data["model"]),
                                             dataset=str(data["sft"]), max_steps=12)
        assert not error, text
        job = me.hint("wait_for_job")["job_id"]
        assert job == launched["job_id"] and "fetch_logs" not in text
        text, done, _ = await me.ask("wait_for_job", job_id=job, timeout=WAIT)
        assert done["stage"] == "COMPLETED", text
        # The answer, from this result alone: how the loss went, and where the model is.
        # (How many points the curve has is TRL's logging_steps: its default of 10 gives one point in 12 steps, and
        # the summary then says so rather than invent a trend; a default fitted to the run's length gives a curve.)
        assert re.search(r"Metrics: loss \d[\d.]* (-> \d[\d.]* \([+-][\d.]+%\) over 12 steps|at step \d+ \(one "
                         r"logged point: no trend yet\))", text), text
        assert done["model"]["saved"] and done["model"]["output_dir"] in text
        first_model = done["model"]["output_dir"]
        assert len(me.calls) <= 3, me.calls

        # 2. "Now DPO from that model on prefs.jsonl, with bf16 and a small learning rate." (at most 4) On a CPU,
        # bf16 cannot run: the server must steer the assistant to drop it (or keep it with use_cpu=true).
        me = Assistant(client)
        request = dict(trainer="dpo", model=first_model, dataset=str(data["dpo"]), learning_rate=5e-7, max_steps=4)
        text, launched, error = await me.ask("launch_training", hinted=False, **request, extra_args={"bf16": True})
        if not error:
            job = me.hint("wait_for_job")["job_id"]
            text, done, _ = await me.ask("wait_for_job", job_id=job, timeout=WAIT)
        if error or done["stage"] == "ERROR":
            # A refusal or a diagnosis that says what to change; the assistant does that and launches again.
            assert "bf16" in text, text
            fix = {"use_cpu": True, "bf16": True} if "use_cpu" in text else {"bf16": False}
            me.hinted.append(("launch_training", {}))  # the fix named in the text, not as a "Call" line
            text, launched, error = await me.ask("launch_training", **request, extra_args=fix)
            assert not error, text
            job = me.hint("wait_for_job")["job_id"]
            text, done, _ = await me.ask("wait_for_job", job_id=job, timeout=WAIT)
        assert done["stage"] == "COMPLETED", text
        assert done["trainer"] == "dpo" and "rewards/accuracies" in text and "rewards/margins" in text
        assert done["model"]["output_dir"] in text
        assert len(me.calls) <= 4, me.calls

        # 3. "Show me everything and stop what runs." (1: nothing runs, and the answer says so)
        me = Assistant(client)
        text, listed, _ = await me.ask("list_jobs", hinted=False)
        assert text.startswith("No job is running now.") and listed["running"] == 0
        assert all(j["id"] in text for j in listed["jobs"])
        assert len(me.calls) == 1


async def test_stopping_what_runs_is_named_by_list_jobs(state_dir: Path) -> None:
    """When something does run, list_jobs says how many and names cancel_job for it: one more call."""
    async with local_client(state_dir) as client:
        me = Assistant(client)
        _, launched, _ = await me.ask("run_job", hinted=False, command=["sleep", "60"])
        text, listed, _ = await me.ask("list_jobs", hinted=False)
        # Started or still starting (a slot is claimed a moment after the launch answers): either way it runs now.
        assert listed["running"] + listed["scheduling"] == 1 and "running now" in text.split(".")[0]
        assert me.hint("cancel_job")["job_id"] == launched["job_id"]
        text, canceled, _ = await me.ask("cancel_job", job_id=launched["job_id"])
        assert canceled["stage"] == "CANCELED"


async def test_lora_on_hugging_face_pushed_to_the_hub_with_its_cost_first(fake_hf: FakeHFJobs) -> None:
    """4. "LoRA fine-tune Qwen/Qwen2.5-0.5B on trl-lib/Capybara on an A100 on Hugging Face, push it to the Hub,
    and tell me what it costs first." (at most 5)"""
    request = dict(trainer="sft", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara", use_peft=True,
                   flavor="a100-large", timeout="2h", push_to_hub=True, hub_model_id="alice/qwen-capybara-lora")
    async with hf_client(fake_hf) as client:
        me = Assistant(client)
        text, dry, error = await me.ask("launch_training", hinted=False, **request, dry_run=True)
        assert not error, text
        # The cost, told first: the price and the most the timeout allows.
        assert "$2.50/h" in text and "at most $5.00" in text and dry["job_id"] is None
        assert "dry_run=false" in text
        me.hinted.append(("launch_training", {}))  # "Call launch_training with the same arguments and dry_run=false"
        text, launched, error = await me.ask("launch_training", **request, dry_run=False)
        assert not error, text
        job = me.hint("wait_for_job")["job_id"]
        # The job runs on Hugging Face: here, the fake moves it.
        fake_hf.set_stage(job, "RUNNING")
        fake_hf.append_log(job, *(repr({"loss": f"{2.0 - i / 10:.3f}", "learning_rate": "2e-05", "epoch": f"{i / 10}"})
                                  for i in range(1, 7)))
        fake_hf.finish(job)
        text, done, _ = await me.ask("wait_for_job", job_id=job, timeout=60)
        assert done["stage"] == "COMPLETED", text
        # Where the model is (the Hub, since the job's container is gone) and what it cost, in this answer.
        assert done["model"]["hub_repo"] == "alice/qwen-capybara-lora" and done["model"]["output_dir"] is None
        assert "https://huggingface.co/alice/qwen-capybara-lora" in text
        assert done["cost"]["final"] and "Cost in all: $" in text
        assert len(me.calls) <= 5, me.calls
