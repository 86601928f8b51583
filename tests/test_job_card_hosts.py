"""The job card in hosts that differ from the test host and misbehave (issue 21), in headless Chromium.

The host page (card_host.html) declares the UI extension alone or with tasks, and on demand drops a call, refuses
tools, declines a cancel, declares no serverTools, or fixes the frame's size. The jobs are small Python programs
held open by a gate file, so the card is caught RUNNING for as long as a test needs; one test trains for real.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apps_host import CardHost, apps_client, chromium, chromium_or_skip
from mcp import Client
from mcp_client import call
from polling import eventually, holds

pytestmark = pytest.mark.anyio

CHILDREN = Path(__file__).parent / "children"
DEADLINE = 60.0
REFRESH_SECONDS = 2.5  # the card's REFRESH_MS
TIMEOUT_SECONDS = 15  # the card's REQUEST_TIMEOUT_MS


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The file whose creation ends a gated job; made at the end of the test whatever happened, so no job outlives
    it."""
    path = tmp_path / "gate"
    yield path
    path.write_text("go")


def gated(gate: Path) -> list[str]:
    """A job that prints a line, then runs until `gate` exists."""
    return [sys.executable, "-c", "import os, time\nprint('working', flush=True)\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.05)\nprint('done', flush=True)"]


async def start_job(client: Client, command: list[str]) -> str:
    """run_job's job id, whether the client gets a task (then left running) or the launch's answer."""
    result = await client.session.call_tool("run_job", {"command": command}, allow_claimed=True)
    structured = getattr(result, "structured_content", None)
    if structured:
        return structured["job_id"]
    _, listed = await call(client, "list_jobs", limit=1)
    return listed["jobs"][0]["id"]


async def shows(host: CardHost, stage: str, job_id: str | None = None) -> bool:
    return await host.text("stage") == stage and (job_id is None or await host.text("job-id") == job_id)


def showing(host: CardHost, stage: str) -> tuple[Any, Any]:
    """A check that the card shows `stage`, and what it showed instead, for the failure message."""
    seen: dict[str, str] = {}

    async def check() -> bool:
        for part in ("stage", "job-id", "status", "trouble", "note"):
            seen[part] = await host.text(part)
        return seen["stage"] == stage

    return check, lambda: f"the card to show {stage} (it shows {seen})"


async def test_with_ui_and_tasks_the_card_follows_the_job_while_the_call_is_a_task(state_dir: Path,
                                                                                  gate: Path) -> None:
    """Regression: a host declaring both extensions ran wait_for_job as a task and handed the card only the final
    result; the card, waiting for a result to start refreshing, stayed blank for the whole run."""
    chromium_or_skip()
    async with apps_client(state_dir, tasks=True) as client, chromium() as browser:
        job_id = await start_job(client, gated(gate))
        host = await CardHost.open(browser, client)
        await host.start("wait_for_job", {"job_id": job_id})
        await eventually(lambda: shows(host, "RUNNING", job_id), timeout=DEADLINE, interval=0.2,
                         what=f"the card to show job {job_id} RUNNING while its wait is a task")
        assert await host.result() is None  # the task runs on: the host has nothing to hand over yet
        assert await host.card.locator("#cancel").is_visible()
        assert "working" in await host.text("log")
        gate.write_text("go")
        await eventually(lambda: shows(host, "COMPLETED", job_id), timeout=DEADLINE, interval=0.2,
                         what="the card to show COMPLETED")
        result = await eventually(host.result, timeout=DEADLINE, interval=0.2, what="the wait's task to end")
        assert result["structuredContent"]["stage"] == "COMPLETED"
        assert await host.text("cost-label") == "Cost"  # it has ended: not "so far"


@pytest.mark.training
@pytest.mark.timeout(360)
async def test_a_launch_run_as_a_task_is_found_and_its_failure_shows_the_error_panel(
        state_dir: Path, tmp_path: Path, tiny: dict[str, Path]) -> None:
    """Regression: a launch that became a task gave the card nothing until the end, and the end, an `isError`
    result (the job failed), was shown as raw text. One card gets only that result (the host refuses every other
    call): it draws the ERROR panel from the structured content. Another gets no result at all (the host drops it):
    it finds the job by itself and follows it to the same panel."""
    chromium_or_skip()
    broken = tmp_path / "no-weights"  # the tiny model's config and tokenizer, not its weights: fails at load
    shutil.copytree(tiny["model"], broken, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    launch = {"trainer": "sft", "model": str(broken), "dataset": str(tiny["sft"]), "max_steps": 4,
              "save_strategy": "no"}
    async with apps_client(state_dir, tasks=True) as client, chromium() as browser:
        told, finder = await CardHost.open(browser, client), await CardHost.open(browser, client)
        await told.start("launch_training", launch, refuse=["*"])

        async def one_job() -> bool:
            return len((await call(client, "list_jobs"))[1]["jobs"]) == 1

        await eventually(one_job, timeout=DEADLINE, interval=0.2, what="the first launch to create its job")
        await finder.start("launch_training", launch, dropResult=True)
        for host in (told, finder):
            check, what = showing(host, "ERROR")
            await eventually(check, timeout=DEADLINE * 2, interval=0.3, what=what)
            assert not await host.card.locator("#problem").is_hidden()
        result = await eventually(told.result, timeout=DEADLINE, interval=0.2, what="the first launch's task to end")
        assert result["isError"] and result["structuredContent"]["stage"] == "ERROR"
        assert await told.text("job-id") == result["structuredContent"]["job_id"]
        diagnosis = result["structuredContent"]["diagnosis"]
        if diagnosis:
            assert await told.text("problem-title") == diagnosis["title"]
        assert not [e for e in await told.relayed() if e["name"] != "launch_training"]  # it drew the result alone
        _, listed = await call(client, "list_jobs")
        assert {await finder.text("job-id"), await told.text("job-id")} == {job["id"] for job in listed["jobs"]}
        assert "list_jobs" in [e["name"] for e in await finder.relayed()]


async def test_an_unanswered_call_says_the_card_cannot_refresh_and_a_declined_cancel_stays_said(
        state_dir: Path, gate: Path) -> None:
    """Regression: one dropped request froze the card (RUNNING and a live Cancel for a job long ended), and a
    declined cancel's message was overwritten by the next refresh 30 ms later."""
    chromium_or_skip()
    async with apps_client(state_dir) as client, chromium() as browser:
        job_id = await start_job(client, gated(gate))
        host = await CardHost.open(browser, client)
        await host.show("inspect_job", {"job_id": job_id})
        await eventually(lambda: shows(host, "RUNNING", job_id), timeout=DEADLINE, interval=0.2,
                         what="the card to show RUNNING")

        # The user asks to cancel; the host declines. The message stays while the card goes on refreshing.
        await host.misbehave(refuse=["cancel_job"], reason="the user declined to stop the job")
        await host.card.locator("#cancel").click()
        await host.card.locator("#confirm-yes").click()
        declined = "Cancel failed: The host refused cancel_job: the user declined to stop the job"
        await eventually(lambda: host.text("action-error"), timeout=30, what="the declined cancel to be said")
        assert await host.text("action-error") == declined
        refreshes = len(await host.attempts("inspect_job"))

        async def still_said() -> bool:
            return await host.card.locator("#action-error").is_visible() and \
                await host.text("action-error") == declined

        await holds(still_said, duration=3 * REFRESH_SECONDS, interval=0.2, what="the declined cancel to stay said")
        assert len(await host.attempts("inspect_job")) > refreshes  # refreshes went on meanwhile
        assert await host.text("stage") == "RUNNING"

        # The host stops answering inspect_job; the job ends meanwhile. The card says it is out of date.
        await host.misbehave(refuse=[], drop=["inspect_job"])
        gate.write_text("go")
        _, waited = await call(client, "wait_for_job", job_id=job_id, timeout=60)
        assert waited["stage"] == "COMPLETED"
        trouble = await eventually(lambda: host.text("trouble"), timeout=TIMEOUT_SECONDS + 3 * REFRESH_SECONDS + 10,
                                   interval=0.3, what="the card to say it cannot refresh")
        assert trouble.startswith("Cannot refresh: the host did not answer inspect_job within 15 s")
        assert await host.card.locator("#stage").get_attribute("data-stale") is not None
        assert (await host.text("status")).startswith("Not up to date since")

        # Answered again: the card catches up, and the notice goes.
        await host.misbehave(drop=[])
        await eventually(lambda: shows(host, "COMPLETED", job_id), timeout=60, interval=0.3,
                         what="the card to catch up once the host answers")
        assert await host.card.locator("#trouble").is_hidden()
        assert not await host.card.locator("#cancel").is_visible()


async def test_refused_calls_back_off_and_a_host_without_server_tools_is_not_asked(state_dir: Path,
                                                                                   gate: Path) -> None:
    """Regression: the card retried refused calls every 2.5 s forever and ignored hostCapabilities.serverTools."""
    chromium_or_skip()
    async with apps_client(state_dir) as client, chromium() as browser:
        job_id = await start_job(client, gated(gate))
        refused = await CardHost.open(browser, client)
        await refused.show("inspect_job", {"job_id": job_id}, refuse=["inspect_job"], reason="tools are off")
        assert await refused.text("stage") in ("SCHEDULING", "RUNNING")  # drawn from the host's own call

        async def three_attempts() -> list[float] | None:
            times = await refused.attempts("inspect_job")
            return times if len(times) >= 3 else None

        times = await eventually(three_attempts, timeout=60, interval=0.5, what="three refused refreshes")
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert gaps[0] >= 1.9 * REFRESH_SECONDS * 1000 and gaps[1] >= 1.9 * gaps[0], gaps  # doubling, not 2.5 s
        assert (await refused.text("trouble")).startswith("Cannot refresh: The host refused inspect_job: tools are off")

        bare = await CardHost.open(browser, client)
        await bare.show("inspect_job", {"job_id": job_id}, serverTools=False)
        await eventually(lambda: bare.text("trouble"), timeout=30, what="the card to say it cannot call tools")
        assert "does not let the card call the server's tools" in await bare.text("trouble")
        assert await bare.text("job-id") == job_id
        assert not await bare.card.locator("#cancel").is_visible()

        async def no_calls() -> bool:
            return await bare.attempts("inspect_job") == [] and await bare.attempts("list_jobs") == []

        await holds(no_calls, duration=2 * REFRESH_SECONDS, interval=0.5, what="the card to call no tool")


async def test_an_ended_job_reads_cost_and_the_card_fits_a_narrow_fixed_frame(state_dir: Path) -> None:
    """Regression: "Cost so far" on ended jobs, 10-11 px text (an SVG drawn at 560 units shrank in a 380 px frame),
    and a fixed container height ignored (the card grew past it)."""
    chromium_or_skip()
    async with apps_client(state_dir) as client, chromium() as browser:
        job_id = await start_job(client, [sys.executable, str(CHILDREN / "flat_loss.py"), "0"])
        _, waited = await call(client, "wait_for_job", job_id=job_id, timeout=60)
        assert waited["stage"] == "COMPLETED"
        host = await CardHost.open(browser, client)
        await host.show("inspect_job", {"job_id": job_id}, containerDimensions={"width": 380, "height": 300})
        await eventually(lambda: host.card.locator("polyline").count(), timeout=30, interval=0.2,
                         what="the loss curve to be drawn")
        assert await host.text("stage") == "COMPLETED" and await host.text("cost-label") == "Cost"
        small: list[Any] = await host.card.locator("html").evaluate(SMALL_TEXT)
        assert small == [], small
        box = await host.card.locator("html").evaluate(
            "(html) => ({width: html.clientWidth, scrollWidth: html.scrollWidth, height: "
            "html.getBoundingClientRect().height, bodyScroll: document.body.scrollHeight, "
            "bodyClient: document.body.clientHeight})")
        assert box["scrollWidth"] <= box["width"] <= 380, box  # nothing wider than the frame
        assert box["height"] == 300 and box["bodyScroll"] > box["bodyClient"], box  # the card scrolls inside
        assert await host.page.locator("#view").evaluate("(f) => f.getBoundingClientRect().height") == 300


# Visible text drawn under 12 px (11.5 with rounding), SVG text at the size the chart's scale gives it.
SMALL_TEXT = """(html) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el.getClientRects().length) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    const svg = el.closest("svg");
    if (svg) size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    if (size < 11.5) small.push([el.tagName, el.id, node.textContent.slice(0, 30), size]);
  }
  return small;
}"""
