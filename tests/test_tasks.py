"""The tasks extension through the protocol: the SDK's real client declaring `io.modelcontextprotocol/tasks` (see
tasks_client.py), in-process, over stdio and over streamable HTTP against the installed console script.

One real training run (a tiny SFT polled from `working` with a step to its inlined result); the other jobs are small
Python programs: a heartbeat with a grandchild to cancel, a failure the diagnosis recognises, a short sleep that
outlives the server that launched it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_client import console_script, http_server, text_of
from polling import eventually
from tasks_client import IDENTIFIER, CreateTaskResult, DetailedTask, TasksClient, cancel, get

from trl_jobs_mcp.jobs.core.models import JobInfo, JobStage
from trl_jobs_mcp.server import task_view as view
from trl_jobs_mcp.server.app import build_server
from trl_jobs_mcp.server.settings import Settings, SettingsError
from trl_jobs_mcp.server.task_ids import TaskIds, TaskRef

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
CHILDREN = Path(__file__).parent / "children"
DEADLINE = 240.0
SHORT = [sys.executable, "-c", "import time; time.sleep(2); print('slept', flush=True)"]


def tasks_client(server: Any, **options: Any) -> tuple[Client, TasksClient]:
    extension = TasksClient(**{"poll": 0.2, **options})
    # "auto" asks server/discover, so the server's capabilities are its own, not a pinned version's stand-in.
    return Client(server, mode="auto", extensions=[extension]), extension


def local_server(home: Path, **changes: Any) -> Any:
    return build_server(Settings.from_env({}, backend="local", home=home, **changes))


async def start_task(client: Client, tool: str, **arguments: Any) -> CreateTaskResult:
    """Call a tool and keep its task answer (rather than letting the extension poll it to the end)."""
    created = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(created, CreateTaskResult), f"{tool} answered {created!r}, not a task"
    return created


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"


def stdio_params(home: Path, *flags: str) -> StdioServerParameters:
    return StdioServerParameters(command=console_script(), args=["serve", *flags],
                                 env={**os.environ, "TRL_JOBS_HOME": str(home)})


# --- the one real training run, over stdio ---


@pytest.mark.training
async def test_a_tiny_sft_as_a_task_goes_from_working_with_a_step_to_its_inlined_result(
        state_dir: Path, tiny: dict[str, Path]) -> None:
    client, extension = tasks_client(stdio_params(state_dir), poll=0.1)
    async with client:
        assert IDENTIFIER in (client.session.server_capabilities.extensions or {})
        result = await client.call_tool("launch_training", {
            "trainer": "sft", "model": str(tiny["model"]), "dataset": str(tiny["sft"]), "max_steps": 40,
            "logging_steps": 1, "per_device_train_batch_size": 2, "save_strategy": "no"},
            read_timeout_seconds=DEADLINE)
    created, polls = extension.seen[0], extension.seen[1:]
    assert isinstance(created, CreateTaskResult) and created.status == "working"
    assert created.ttl_ms and created.ttl_ms > 7 * 86400 * 1000 and created.poll_interval_ms == 2000
    job_id = result.structured_content["job_id"]
    assert created.status_message and created.status_message.startswith(f"Launched job {job_id}: sft on ")
    # While it trained, a poll showed the step reached and the loss, as a person reads them.
    stepping = [t.status_message for t in polls if t.status == "working" and "step " in (t.status_message or "")]
    assert stepping, [t.status_message for t in polls]
    assert any("/40" in m and "loss " in m and "no charge" in m for m in stepping), stepping
    assert all(t.task_id == created.task_id for t in polls) and polls[-1].status == "completed"

    # The inlined result: the final stage, where the model is, the loss in a sentence, what it cost, the next call.
    text = text_of(result)
    assert not result.is_error, text
    output_dir = Path(result.structured_content["output_dir"])
    assert f"Job {job_id} (sft) COMPLETED" in text and str(output_dir) in text and "no charge" in text
    assert "Metrics: " in text and "loss" in result.structured_content["metrics"]
    assert f"job_metrics with job_id={job_id}" in text
    assert result.structured_content["stage"] == "COMPLETED" and result.structured_content["trainer"] == "sft"
    assert (output_dir / "config.json").is_file() and (output_dir / "README.md").is_file()


# --- cancel, over streamable HTTP (Mcp-Name included) ---


async def test_tasks_cancel_stops_a_long_run_job_and_leaves_no_process(state_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "beat"
    folder.mkdir()
    with http_server(state_dir) as (url, _):
        client, _ = tasks_client(url)
        async with client:
            created = await start_task(client, "run_job", command=[sys.executable, str(CHILDREN / "heartbeat.py"),
                                                                   str(folder)], timeout="1h")

            async def running() -> bool:
                task = await get(client.session, created.task_id)
                assert task.status == "working"
                return (task.status_message or "").startswith("RUNNING") and (folder / "grandchild.pid").exists()

            await eventually(running, timeout=60, interval=0.2, what="the job and its grandchild to run")
            pids = [int((folder / name).read_text()) for name in ("child.pid", "grandchild.pid")]
            await cancel(client.session, created.task_id)

            async def cancelled() -> DetailedTask | None:
                task = await get(client.session, created.task_id)
                return task if task.status == "cancelled" else None

            task = await eventually(cancelled, timeout=60, interval=0.2, what="the task to be cancelled")
            assert task.status_message and task.status_message.startswith("CANCELED")
            assert task.result is None and task.poll_interval_ms is None
            await eventually(lambda: all(gone(pid) for pid in pids), timeout=30, what=f"processes {pids} to end")
            # The job is CANCELED for every tool as well, as cancel_job would have left it.
            listed = await client.call_tool("list_jobs", {"stage": "CANCELED"})
            assert len(listed.structured_content["jobs"]) == 1
            # Cancelling again is acknowledged and changes nothing.
            await cancel(client.session, created.task_id)
            assert (await get(client.session, created.task_id)).status == "cancelled"


async def test_over_http_a_tasks_request_whose_mcp_name_is_not_its_task_is_refused(state_dir: Path) -> None:
    with http_server(state_dir) as (url, _):
        client, _ = tasks_client(url)
        async with client:
            created = await start_task(client, "run_job", command=SHORT)
            assert (await get(client.session, created.task_id)).task_id == created.task_id  # the SDK sets Mcp-Name

        def post(name: str | None) -> dict[str, Any]:
            headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
                       "MCP-Protocol-Version": MODERN, "Mcp-Method": "tasks/get"}
            if name is not None:
                headers["Mcp-Name"] = name
            meta = {"io.modelcontextprotocol/protocolVersion": MODERN,
                    "io.modelcontextprotocol/clientCapabilities": {"extensions": {IDENTIFIER: {}}}}
            body = {"jsonrpc": "2.0", "id": 7, "method": "tasks/get",
                    "params": {"taskId": created.task_id, "_meta": meta}}
            request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:  # a protocol error may come with a 4xx status
                return json.loads(err.read())

        assert post(created.task_id)["result"]["taskId"] == created.task_id
        for wrong in ("tj1.another.task", None):
            error = post(wrong)["error"]
            assert error["code"] == -32020 and "Mcp-Name" in error["message"].replace("mcp-name", "Mcp-Name")


# --- durability: a second server on the same home, after the first was killed ---


async def test_a_second_server_on_the_same_home_answers_for_a_task_after_the_first_was_killed(
        state_dir: Path) -> None:
    with http_server(state_dir) as (url, proc):
        client, _ = tasks_client(url)
        async with client:
            created = await start_task(client, "run_job", command=SHORT, labels={"run": "restart"})
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    client, _ = tasks_client(stdio_params(state_dir))
    async with client:
        first = await get(client.session, created.task_id)
        assert first.task_id == created.task_id and first.created_at == created.created_at
        assert first.status in ("working", "completed")

        async def completed() -> DetailedTask | None:
            task = await get(client.session, created.task_id)
            return task if task.status == "completed" else None

        task = await eventually(completed, timeout=DEADLINE, interval=0.3, what="the task to complete")
    assert task.result is not None and task.result["isError"] is False
    text = task.result["content"][0]["text"]
    assert "COMPLETED" in text and "no charge" in text
    structured = task.result["structuredContent"]
    assert structured["stage"] == "COMPLETED" and structured["labels"] == {"run": "restart"}
    assert any("Rebuilt from the job record" in note for note in structured["notes"])


# --- a failing job, in-process ---


async def test_a_failing_job_completes_with_is_error_and_the_diagnosis(state_dir: Path) -> None:
    client, extension = tasks_client(local_server(state_dir))
    failing = [sys.executable, "-c", "raise ModuleNotFoundError(\"No module named 'nonexistent_pkg_xyz'\")"]
    async with client:
        result = await client.call_tool("run_job", {"command": failing})
    assert [t.status for t in extension.seen][-1] == "completed"  # a tool's failure, not a failed task
    text = text_of(result)
    assert result.is_error and "ERROR" in text
    # Not a package this server knows: the diagnosis does not send the user to install a stranger's package.
    assert "Likely cause: Python module 'nonexistent_pkg_xyz' was not found" in text and "Fix:" in text
    assert result.structured_content["diagnosis"]["cause"] == "missing_module"
    assert result.structured_content["exit_code"] == 1


# --- ids that are not tasks ---


async def test_unknown_forged_and_foreign_task_ids_answer_invalid_params(state_dir: Path, tmp_path: Path) -> None:
    client, _ = tasks_client(local_server(state_dir))
    async with client:
        created = await start_task(client, "run_job", command=SHORT)
        prefix, payload, mac = created.task_id.split(".")
        forged = f"{prefix}.{payload}.{'A' * len(mac)}"
        for task_id in ("no-such-task", forged, created.task_id + "x"):
            with pytest.raises(MCPError) as caught:
                await get(client.session, task_id)
            assert caught.value.error.code == -32602 and "Task not found" in caught.value.error.message
            with pytest.raises(MCPError) as caught:
                await cancel(client.session, task_id)
            assert caught.value.error.code == -32602
    # Another home has another key: its server does not know this task, though it is well formed.
    client, _ = tasks_client(local_server(tmp_path / "other-home"))
    async with client:
        with pytest.raises(MCPError) as caught:
            await get(client.session, created.task_id)
        assert caught.value.error.code == -32602
    assert ((state_dir / "task-key").stat().st_mode & 0o777) == 0o600


async def test_a_task_past_its_ttl_answers_that_it_has_expired(state_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(view, "RETENTION_SECONDS", 0)  # forgotten as soon as its job ends
    client, _ = tasks_client(local_server(state_dir))
    async with client:
        created = await start_task(client, "run_job", command=[sys.executable, "-c", "pass"])
        assert created.ttl_ms is not None and abs(created.ttl_ms - 1800 * 1000) < 10_000  # the timeout, no more

        async def expired() -> MCPError | None:
            try:
                await get(client.session, created.task_id)
            except MCPError as error:
                return error
            return None

        error = await eventually(expired, timeout=60, interval=0.1, what="the task to expire")
    assert error.error.code == -32602 and "Task has expired" in error.error.message


async def test_tasks_methods_need_the_extension_declared(state_dir: Path) -> None:
    server = local_server(state_dir)
    client, _ = tasks_client(server)
    async with client:
        created = await start_task(client, "run_job", command=SHORT)
    async with Client(server, mode=MODERN) as plain:
        with pytest.raises(MCPError) as caught:
            await get(plain.session, created.task_id)
        assert caught.value.error.code == -32021


# --- clients without the extension, and the setting that turns tasks off ---


async def test_a_client_without_the_extension_gets_todays_answer(state_dir: Path) -> None:
    server = local_server(state_dir)
    for client in (Client(server, mode=MODERN), Client(server, mode="legacy", extensions=[TasksClient()])):
        async with client:
            result = await client.call_tool("run_job", {"command": SHORT})
            assert not result.is_error and text_of(result).startswith("Launched job ")
            assert result.structured_content["stage"] in ("SCHEDULING", "RUNNING")
            waited = await client.call_tool("wait_for_job", {"job_id": result.structured_content["job_id"],
                                                             "timeout": 1})
            assert not waited.is_error and waited.structured_content["reason"] in ("timeout", "finished")
    # Both clients saw the same tools as a client that declares it (and the pinned snapshot).
    async with Client(server, mode=MODERN) as plain, tasks_client(server)[0] as declaring:
        assert (await plain.list_tools()).tools == (await declaring.list_tools()).tools


async def test_with_tasks_turned_off_a_declaring_client_gets_todays_answer(state_dir: Path) -> None:
    client, extension = tasks_client(stdio_params(state_dir, "--no-tasks"))
    async with client:
        assert IDENTIFIER not in (client.session.server_capabilities.extensions or {})
        result = await client.call_tool("run_job", {"command": SHORT})
        assert text_of(result).startswith("Launched job ") and not extension.seen
    server = local_server(state_dir, tasks=False)
    client, extension = tasks_client(server)
    async with client:
        with pytest.raises(MCPError) as caught:
            await get(client.session, "tj1.x.y")
        assert caught.value.error.code == -32601  # no tasks/* at all


async def test_dry_runs_and_refusals_are_answered_directly(state_dir: Path) -> None:
    client, extension = tasks_client(local_server(state_dir))
    async with client:
        dry = await client.call_tool("run_job", {"command": SHORT, "dry_run": True})
        assert text_of(dry).startswith("Dry run, nothing was created")
        refused = await client.call_tool("run_job", {"command": SHORT, "flavor": "h200x8"})
        assert refused.is_error and "flavor" in text_of(refused)
        missing = await client.call_tool("wait_for_job", {"job_id": "0123456789abcdef"})
        assert missing.is_error and "list_jobs" in text_of(missing)
    assert extension.seen == []


# --- wait_for_job as a task ---


async def test_wait_for_job_answers_a_task_with_no_time_bound_and_its_cancel_leaves_the_job(
        state_dir: Path) -> None:
    server = local_server(state_dir)
    async with Client(server, mode=MODERN) as plain:
        launched = await plain.call_tool("run_job", {"command": SHORT})
        long = await plain.call_tool("run_job", {"command": [sys.executable, "-c", "import time; time.sleep(600)"]})
    job_id = launched.structured_content["job_id"]
    client, extension = tasks_client(server)
    async with client:
        waited = await client.call_tool("wait_for_job", {"job_id": job_id, "timeout": 1})
        assert extension.seen[0].status == "working" and extension.seen[-1].status == "completed"
        # Not the 1-second bound: the task waited for the end and answers as wait_for_job does.
        assert waited.structured_content["reason"] == "finished"
        assert waited.structured_content["stage"] == "COMPLETED" and waited.structured_content["line_count"] >= 1
        assert "slept" in waited.content[0].text  # the log lines are given once, in the text

        job_id = long.structured_content["job_id"]
        wait = await start_task(client, "wait_for_job", job_id=job_id)
        await cancel(client.session, wait.task_id)
        assert (await get(client.session, wait.task_id)).status == "cancelled"
        inspected = await client.call_tool("inspect_job", {"job_id": job_id})
        assert inspected.structured_content["job"]["stage"] in ("SCHEDULING", "RUNNING")
        await client.call_tool("cancel_job", {"job_id": job_id})


async def test_each_wait_is_its_own_task_and_a_cancelled_or_completed_one_stays_so_after_a_restart(
        state_dir: Path, tmp_path: Path) -> None:
    """Regression (issue 21): a wait's task id was derived from the job and the arguments, and "stopped" lived in
    memory, so a second wait revived a cancelled one, two clients shared it, and after a restart it read completed."""
    gate = tmp_path / "gate"
    gated = [sys.executable, "-c", f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)"]
    async with Client(local_server(state_dir), mode=MODERN) as plain:
        job_id = (await plain.call_tool("run_job", {"command": gated})).structured_content["job_id"]
    first, _ = tasks_client(local_server(state_dir))
    second, _ = tasks_client(local_server(state_dir))
    async with first, second:
        mine = await start_task(first, "wait_for_job", job_id=job_id)
        again = await start_task(first, "wait_for_job", job_id=job_id)
        theirs = await start_task(second, "wait_for_job", job_id=job_id)
        assert len({mine.task_id, again.task_id, theirs.task_id}) == 3  # each call's task is its own
        await cancel(first.session, mine.task_id)
        revived = await start_task(first, "wait_for_job", job_id=job_id)  # a new wait does not revive it
        assert revived.task_id != mine.task_id and revived.status == "working"
        assert (await get(first.session, mine.task_id)).status == "cancelled"
        assert (await get(second.session, theirs.task_id)).status == "working"
        gate.write_text("go")

        async def completed() -> DetailedTask | None:
            task = await get(second.session, theirs.task_id)
            return task if task.status == "completed" else None

        done = await eventually(completed, timeout=60, interval=0.2, what="the other client's wait to complete")
        assert done.result and done.result["structuredContent"]["stage"] == "COMPLETED"
        cancelled = await get(first.session, mine.task_id)
        assert cancelled.status == "cancelled" and cancelled.result is None  # the job's end does not undo it
        await cancel(second.session, theirs.task_id)  # a completed task stays completed
    # A restart on the same home: both read as they ended, the completed one with the answer it gave.
    restarted, _ = tasks_client(local_server(state_dir))
    async with restarted:
        assert (await get(restarted.session, mine.task_id)).status == "cancelled"
        kept = await get(restarted.session, theirs.task_id)
        assert kept.status == "completed" and kept.result == done.result
    assert len(list((state_dir / "tasks").glob("*.json"))) == 2  # one small file per ended task, nothing else


# --- the other backend: Hugging Face Jobs (the fake Jobs API, the real huggingface_hub client) ---


async def test_on_hugging_face_the_task_shows_the_cost_so_far_and_completes_with_the_bill(
        fake_hf: FakeHFJobs, tmp_path: Path) -> None:
    server = build_server(Settings.from_env({}, backend="hf", hf_token=fake_hf.token, hf_endpoint=fake_hf.url,
                                            home=tmp_path / "state"))
    client, _ = tasks_client(server)
    async with client:
        created = await start_task(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara",
                                   max_steps=20, flavor="a10g-large", timeout="1h")
        [job_id] = fake_hf.jobs
        assert created.status == "working" and created.status_message == (
            f"Launched job {job_id}: sft on Qwen/Qwen2-0.5B with trl-lib/Capybara, hf backend, flavor a10g-large "
            "($1.50/h; at most $1.50 for the 1h timeout). SCHEDULING on a10g-large: waiting for the job to start.")
        fake_hf.set_stage(job_id, "RUNNING")
        fake_hf.append_log(job_id, "{'loss': '2.31', 'learning_rate': '2e-05', 'epoch': '0.1'}",
                           "{'loss': '1.87', 'learning_rate': '1e-05', 'epoch': '0.2'}")

        async def training() -> str | None:
            message = (await get(client.session, created.task_id)).status_message or ""
            return message if "loss 1.87" in message else None

        message = await eventually(training, timeout=60, interval=0.2, what="the loss in the status line")
        assert message.startswith("RUNNING, ") and message.endswith("$0.03 so far")  # one started minute at $1.50/h
        fake_hf.finish(job_id, "COMPLETED")

        async def completed() -> DetailedTask | None:
            task = await get(client.session, created.task_id)
            return task if task.status == "completed" else None

        task = await eventually(completed, timeout=60, interval=0.2, what="the task to complete")
    assert task.result is not None and not task.result["isError"]
    text = task.result["content"][0]["text"]
    assert f"Job {job_id} (sft) COMPLETED on a10g-large" in text and "cost $0.03 (1 billed minute at $1.50/h)" in text
    assert "disappears with it: set push_to_hub=true" in text  # where the model is not, and how to keep it
    assert task.result["structuredContent"]["cost_usd"] == 0.025 and fake_hf.token not in json.dumps(task.result)

    # Another server on the same home (a restart) gives the answer the task completed with, as it was kept; where
    # none was kept (the first server died before the job ended), it answers from the Hub's job record alone.
    client, _ = tasks_client(build_server(Settings.from_env({}, backend="hf", hf_token=fake_hf.token,
                                                            hf_endpoint=fake_hf.url, home=tmp_path / "state")))
    async with client:
        assert (await get(client.session, created.task_id)).result == task.result
        for kept in (tmp_path / "state" / "tasks").glob("*.json"):
            kept.unlink()
        again = await get(client.session, created.task_id)
    assert again.status == "completed" and again.result is not None
    assert again.result["content"][0]["text"].startswith(f"Job {job_id} (sft) COMPLETED on a10g-large")
    assert any("Rebuilt from the job record" in note for note in again.result["structuredContent"]["notes"])


# --- settings, ids and the task's clock, without a server ---


def test_the_tasks_setting_reads_its_variable_and_names_it_when_bad() -> None:
    assert Settings.from_env({}).tasks is True
    assert Settings.from_env({"TRL_JOBS_TASKS": "0"}).tasks is False
    assert Settings.from_env({"TRL_JOBS_TASKS": "off"}, tasks=True).tasks is True  # the flag wins
    with pytest.raises(SettingsError, match="TRL_JOBS_TASKS"):
        Settings.from_env({"TRL_JOBS_TASKS": "sometimes"})


def test_task_ids_are_bound_to_the_key_and_to_every_field(tmp_path: Path) -> None:
    ids = TaskIds(tmp_path / "a")
    ref = TaskRef(tool="wait_for_job", job_id="01a2", arguments={"until": "loss_plateau"})
    task_id = ids.issue(ref)
    named = ids.check(task_id)
    assert named and named.nonce and named == TaskRef(**{**ref.__dict__, "nonce": named.nonce})
    assert ids.issue(ref) != task_id  # every call gets its own task
    assert TaskIds(tmp_path / "a").check(task_id) == named  # the same home after a restart
    assert TaskIds(tmp_path / "b").check(task_id) is None  # another home's key
    other = ids.issue(TaskRef(tool="launch_training", job_id="01a2"))
    assert other != task_id
    _, payload, mac = task_id.split(".")
    _, other_payload, _ = other.split(".")
    assert ids.check(f"tj1.{other_payload}.{mac}") is None  # a signature does not carry over to another job
    assert ids.check("tj1.%%%.%%%") is None and ids.check("x" * 5000) is None


def _job(stage: JobStage, *, age: float, ran: float | None = None, ended: float | None = None) -> JobInfo:
    now = datetime.now(UTC)
    return JobInfo(id="j", backend="local", stage=stage, flavor="cpu-basic", timeout=3600,
                   created_at=now - timedelta(seconds=age),
                   started_at=now - timedelta(seconds=ran) if ran is not None else None,
                   finished_at=now - timedelta(seconds=ended) if ended is not None else None)


def test_polling_is_seconds_apart_while_a_job_starts_and_slower_on_a_long_run() -> None:
    now = datetime.now(UTC).timestamp()
    assert view.poll_interval_ms(_job(JobStage.SCHEDULING, age=5), now) == 2000
    assert view.poll_interval_ms(_job(JobStage.RUNNING, age=30, ran=20), now) == 2000
    assert view.poll_interval_ms(_job(JobStage.RUNNING, age=700, ran=600), now) == 20000
    assert view.poll_interval_ms(_job(JobStage.RUNNING, age=8 * 3600, ran=7 * 3600), now) == 60000


def test_a_task_lives_until_its_job_could_end_plus_a_week_and_then_expires() -> None:
    now = datetime.now(UTC).timestamp()
    week = view.RETENTION_SECONDS * 1000
    running = _job(JobStage.RUNNING, age=100, ran=50)
    assert view.ttl_ms(running, now) == pytest.approx((50 + 3600 + view.RETENTION_SECONDS) * 1000, abs=50)
    assert not view.expired(running, now)
    ended = _job(JobStage.COMPLETED, age=200, ran=150, ended=100)
    assert view.ttl_ms(ended, now) == pytest.approx(100 * 1000 + week, abs=50)
    assert not view.expired(ended, now)
    assert view.expired(_job(JobStage.ERROR, age=8 * 86400, ran=8 * 86400, ended=8 * 86400 - 60), now)


def test_the_status_line_never_shows_the_bar_before_training_as_the_step_reached() -> None:
    # What the local backend returned while the tiny SFT ran without --logging_steps: the bar's "0/40" (ended by a
    # warning's newline), then losses whose steps the log does not give; the bar's later states come back only as
    # the blank last state of their line.
    running = _job(JobStage.RUNNING, age=60, ran=56)
    progress = view.Progress.of(running)
    progress.parser.feed(["  0%|          | 0/40 [00:00<?, ?it/s]/site-packages/torch/utils/data.py: UserWarning",
                          "", "                                               ",
                          "{'loss': '5.944', 'grad_norm': '2.827', 'learning_rate': '1.05e-05', 'epoch': '2.5'}"])
    now = datetime.now(UTC).timestamp()
    assert view.status_message(running, progress, now, bills=False) == (
        "RUNNING, 40 steps, loss 5.944, 56s, no charge (this machine)")
    # Another backend that does not bill (Ray) is named by its traits.place.
    assert view.status_message(running, progress, now, bills=False, place="the Ray cluster at http://head:8265") == (
        "RUNNING, 40 steps, loss 5.944, 56s, no charge (the Ray cluster at http://head:8265)")
    progress.parser.feed([" 75%|███████▌  | 30/40 [00:48<00:07,  1.39it/s]"])
    # On a billed backend: one started minute of cpu-basic at $0.01/h; the ETA is the bar's 48 s over 30 steps.
    assert view.status_message(running, progress, now, bills=True) == (
        "RUNNING, step 30/40, loss 5.944, ETA 16s (1.6 s/step measured), 56s, $0.00017 so far")
