"""The job card in a real browser, on real training jobs (the tiny offline model, real TRL, the local backend).

Headless Chromium shows tests/card_host.html, a small Apps host whose ui/ messages go to the real server over MCP
(see apps_host.py). With one local slot:

1. A long SFT (A) is launched through the host: its card shows RUNNING, the step, and a loss curve with as many
   points as the job_metrics answer it drew from. A short SFT (B) launched behind it waits: its card shows
   SCHEDULING and no metrics. Cancel on A's card (after its confirm) stops A: CANCELED, its processes gone. B then
   runs, and its card, refreshing itself through the host, ends COMPLETED at its last step with the whole curve.
2. A run that TRL refuses at start-up (bf16 on a CPU) shows ERROR with its diagnosis and no metrics, in the dark
   theme.

Screenshots of the running, completed, failed and canceled cards are written to $TRL_JOBS_TEST_ARTIFACTS/job-card
(else a pytest tmp dir); UPDATE_SCREENSHOTS=1 refreshes docs/job-card.png, which the README shows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from apps_host import (
    CardHost,
    apps_client,
    chromium,
    chromium_or_skip,
    finite_count,
    keep_for_readme,
    screens_dir,
)
from mcp_client import call
from polling import eventually, holds

from trl_jobs_mcp.jobs.supervisor.procs import job_processes

pytestmark = [pytest.mark.anyio, pytest.mark.training]

DEADLINE = 240.0
REFRESH_SECONDS = 2.5  # the card's REFRESH_MS


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screens_dir(tmp_path_factory)


def live_groups(state_dir: Path, job_id: str) -> set[int]:
    """The job's process groups that still have a live (not zombie) process, from /proc."""
    proc = json.loads((state_dir / "jobs" / job_id / "proc.json").read_text())
    groups = {pid for key, pid in proc.items() if key in ("pid", "child") and isinstance(pid, int)}
    # The engine's own reader of /proc: a group's live processes, zombies left out.
    return {g for g in groups if job_processes(g)}


async def last_metrics(host: CardHost) -> dict[str, Any] | None:
    """The last job_metrics answer the card received through the host."""
    answers = [entry["result"] for entry in await host.relayed() if entry["name"] == "job_metrics"]
    return answers[-1]["structuredContent"] if answers else None


async def test_running_scheduling_cancel_and_completed(state_dir: Path, tiny: dict[str, Path], screens: Path
                                                        ) -> None:
    chromium_or_skip()
    async with apps_client(state_dir, local_slots=1) as client, chromium() as browser:
        running, waiting = await CardHost.open(browser, client), await CardHost.open(browser, client)
        # A: enough steps (a minute or more even on an idle machine) to still be running when the test cancels it.
        launched = await running.show("launch_training", {
            "trainer": "sft", "model": str(tiny["model"]), "dataset": str(tiny["sft"]), "max_steps": 5000,
            "logging_steps": 1, "save_strategy": "no", "labels": {"card": "running"}})
        a = launched["structuredContent"]["job_id"]
        assert a and await running.text("job-id") == a

        seen: list[str] = []

        async def a_trains() -> bool:
            seen[:] = [await running.text("stage"), await running.text("step")]
            return seen[0] == "RUNNING" and seen[1].startswith("Step ") and int(seen[1].split()[1]) >= 10

        await eventually(a_trains, timeout=DEADLINE, interval=0.3,
                         what=lambda: f"job {a}'s card to show RUNNING past step 10 (it shows {seen})")

        # B queues behind A on the one slot.
        queued = await waiting.show("launch_training", {
            "trainer": "sft", "model": str(tiny["model"]), "dataset": str(tiny["sft"]), "max_steps": 12,
            "logging_steps": 1, "save_strategy": "no", "labels": {"card": "completed"}})
        b = queued["structuredContent"]["job_id"]
        await eventually(lambda: waiting.text("stage"), timeout=30, what="B's card to render")
        assert await waiting.text("stage") == "SCHEDULING"
        assert "free slot" in await waiting.text("step")
        assert "not started" in await waiting.text("charts")
        await waiting.screenshot(screens / "scheduling.png")

        # A's curve: as many points as the job_metrics answer the card drew it from.
        async def curve_matches_metrics() -> bool:
            metrics = await last_metrics(running)
            if not metrics or "loss" not in metrics["series"]:
                return False
            return await running.curve_points("loss") == (finite_count(metrics, "loss"),) * 2 and \
                finite_count(metrics, "loss") >= 10

        await eventually(curve_matches_metrics, timeout=DEADLINE, interval=0.3,
                         what="A's drawn loss curve to match job_metrics")
        assert "/ 5000" in await running.text("step")
        assert await running.text("flavor") == "cpu-basic" and "SFT" in await running.text("title")
        assert await running.card.locator("#cancel").is_visible()
        shot = await running.screenshot(screens / "running.png")
        keep_for_readme(shot, "job-card.png")
        assert live_groups(state_dir, a), "A's processes should be running"

        # Cancel asks first; "Keep running" changes nothing.
        await running.card.locator("#cancel").click()
        await running.card.locator("#confirm-no").click()
        assert await running.text("stage") == "RUNNING" and await running.card.locator("#cancel").is_visible()
        await running.card.locator("#cancel").click()
        await running.card.locator("#confirm-yes").click()

        async def a_canceled() -> bool:
            return await running.text("stage") == "CANCELED"

        await eventually(a_canceled, timeout=DEADLINE, interval=0.2, what=f"job {a}'s card to show CANCELED")
        assert [e["name"] for e in await running.relayed()].count("cancel_job") == 1
        assert live_groups(state_dir, a) == set(), "Cancel on the card should leave none of A's processes"
        _, inspected = await call(client, "inspect_job", job_id=a)
        assert inspected["job"]["stage"] == "CANCELED"
        assert not await running.card.locator("#cancel").is_visible()
        await running.screenshot(screens / "canceled.png")

        # B runs now; its card follows it by itself to the end, then refreshes once more and stops.
        async def b_completed() -> bool:
            return await waiting.text("stage") == "COMPLETED" and await waiting.text("step") == "Step 12 / 12"

        await eventually(b_completed, timeout=DEADLINE, interval=0.3, what=f"job {b}'s card to show COMPLETED")
        _, metrics = await call(client, "job_metrics", job_id=b, plot=False, max_points=300)
        assert finite_count(metrics, "loss") == 12

        async def b_curve_whole() -> bool:
            return await waiting.curve_points("loss") == (12, 12)

        await eventually(b_curve_whole, timeout=30, interval=0.2, what="B's card to draw all 12 losses")
        assert await waiting.text("elapsed") != "–" and (await waiting.text("cost")).startswith("free here")
        # Ended: "Cost", not "Cost so far"; where the model is, in the body (issue 21), not in the footer.
        assert await waiting.text("cost-label") == "Cost"
        assert queued["structuredContent"]["output_dir"] in await waiting.text("where")
        assert "'loss'" in await waiting.text("log") or "train_runtime" in await waiting.text("log")
        await waiting.screenshot(screens / "completed.png")

        # After the end, one last refresh, then no more calls: the count holds still over a few refresh periods.
        async def b_settled() -> bool:
            return (await waiting.text("status")).startswith("Final: completed")

        await eventually(b_settled, timeout=30, interval=0.2, what="B's card to make its last refresh")
        calls = [e["name"] for e in await waiting.relayed()]
        assert {"inspect_job", "job_metrics", "fetch_logs"} <= set(calls) and "cancel_job" not in calls
        async def no_new_calls() -> bool:
            return len(await waiting.relayed()) == len(calls)

        await holds(no_new_calls, duration=3 * REFRESH_SECONDS, interval=0.5,
                    what="the card to make no more tool calls after the job ended")


async def test_failed_job_shows_its_diagnosis_in_the_dark(state_dir: Path, tiny: dict[str, Path], screens: Path
                                                          ) -> None:
    chromium_or_skip()
    async with apps_client(state_dir) as client, chromium() as browser:
        host = await CardHost.open(browser, client)
        # launch_training refuses bf16 on a CPU flavor before a job exists; TRL run by hand still meets it.
        _, launched = await call(client, "run_job", command=[
            sys.executable, "-m", "trl.scripts.sft", f"--model_name_or_path={tiny['model']}",
            f"--dataset_name={tiny['sft']}", "--max_steps=4", "--report_to=none", "--bf16=true"])
        job_id = launched["job_id"]
        # The card comes with wait_for_job here, and shows the job as the wait left it.
        await host.show("wait_for_job", {"job_id": job_id, "timeout": 200}, theme="dark")

        async def failed() -> bool:
            return await host.text("stage") == "ERROR" and not await host.card.locator("#problem").is_hidden()

        await eventually(failed, timeout=DEADLINE, interval=0.3, what=f"job {job_id}'s card to show ERROR")
        _, inspected = await call(client, "inspect_job", job_id=job_id)
        diagnosis = inspected["diagnosis"]
        assert diagnosis, inspected
        assert await host.text("problem-title") == diagnosis["title"]
        assert diagnosis["fix"] in await host.text("problem-fix")
        assert "logged no metrics" in await host.text("charts")
        assert await host.card.locator("polyline").count() == 0
        assert not await host.card.locator("#cancel").is_visible()
        theme = await host.card.locator("html").get_attribute("data-theme")
        assert theme == "dark"
        # The spec's order: ui/initialize first, then initialized, and only then sizes and tool calls.
        sent = [entry["method"] for entry in await host.page.evaluate("() => window.hostLog")
                if entry["from"] == "view" and entry["method"]]
        assert sent[:2] == ["ui/initialize", "ui/notifications/initialized"], sent[:5]
        assert {"ui/notifications/size-changed", "tools/call"} <= set(sent[2:])
        await host.screenshot(screens / "failed-dark.png")
