"""The ray backend against a real local Ray head (tests/ray_head.py), through the real MCP client where a tool is the
thing under test, and through RayBackend itself where the process tree or Ray's own view is.

Every job asks for cpu-basic, which takes the whole head (2 CPUs), so jobs run one at a time and a second one waits
PENDING: that is how the PENDING cancel is set up, and why each test cancels what it leaves behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp_client import call, call_error, connect
from polling import eventually
from ray_head import RayHead, job_processes, ray_settings

from trl_jobs_mcp.jobs.backends.ray import RayBackend
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec, JobStage

pytestmark = pytest.mark.anyio

JOB_S = 120  # a job's start on a loaded two-core machine takes seconds: generous, never a timed assert
SECRET = "s3cr3t-" + uuid.uuid4().hex
JOB_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture
def backend(ray_backend: RayBackend) -> RayBackend:
    return ray_backend


settings = ray_settings


async def finished(backend: RayBackend, job_id: str) -> Any:
    return await eventually(lambda: _if_finished(backend, job_id), timeout=JOB_S, interval=0.3,
                            what=f"job {job_id} to finish")


async def _if_finished(backend: RayBackend, job_id: str) -> Any:
    info = await backend.inspect(job_id)
    return info if info.finished else None


async def ray_status(head: RayHead, job_id: str) -> str:
    async with httpx2.AsyncClient() as http:
        return (await http.get(f"{head.address}/api/jobs/{job_id}")).json()["status"]


# --- run_job, logs, labels ---


async def test_run_job_command_logs_tail_and_since(ray_head: RayHead, tmp_path: Path) -> None:
    async with connect(settings(ray_head, tmp_path)) as client:
        text, out = await call(client, "run_job", command=[sys.executable, "-c",
                                                           "for i in range(1500): print(f'line {i}')"],
                               labels={"suite": "ray"})
        job_id = out["job_id"]
        assert out["backend"] == "ray" and job_id.startswith("trl-") and job_id in text
        _, done = await call(client, "wait_for_job", job_id=job_id, timeout=JOB_S)
        assert done["stage"] == "COMPLETED", done

        _, tail = await call(client, "fetch_logs", job_id=job_id, tail=3)
        assert tail["lines"] == ["line 1497", "line 1498", "line 1499"]
        assert tail["finished"] is True

        # Forward from the start: bounded pages, each ending where the next begins, until the end.
        seen: list[str] = []
        since = 0
        while True:
            _, page = await call(client, "fetch_logs", job_id=job_id, since=since)
            seen += page["lines"]
            assert page["next_since"] == since + len(page["lines"])
            since = page["next_since"]
            if page["finished"]:
                break
            assert page["truncated"] and page["lines"]
        numbered = [line for line in seen if line.startswith("line ")]
        assert numbered == [f"line {i}" for i in range(1500)]
        _, after = await call(client, "fetch_logs", job_id=job_id, since=since)
        assert after["lines"] == [] and after["next_since"] == since and after["finished"]

        _, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["job"]["labels"] == {"suite": "ray"}
        assert inspected["job"]["exit_code"] == 0 and inspected["job"]["flavor"] == "cpu-basic"


async def test_a_tail_then_the_lines_after_it_while_the_job_runs(backend: RayBackend, tmp_path: Path) -> None:
    """A tail is read from the end of the log (no count of the lines before it), and its next_since still leads to
    exactly the lines written after it."""
    go = tmp_path / "go"
    program = (f"import os, time\nfor i in range(3000): print(f'a {{i}}')\nwhile not os.path.exists({str(go)!r}): "
               "time.sleep(0.05)\nfor i in range(5): print(f'b {i}')\n")
    info = await backend.submit(JobSpec(command=[sys.executable, "-c", program]))
    tail = await eventually(lambda: _tail_ending(backend, info.id, "a 2999"), timeout=JOB_S, interval=0.3,
                            what="the job's first lines")
    assert tail.lines == ["a 2998", "a 2999"] and not tail.finished
    go.touch()
    await finished(backend, info.id)
    after = await backend.logs(info.id, since=tail.next_since)
    assert after.lines == [f"b {i}" for i in range(5)] and after.finished and not after.truncated
    again = await backend.logs(info.id, since=after.next_since)
    assert again.lines == [] and again.finished and again.next_since == after.next_since
    last = await backend.logs(info.id, tail=3, since=tail.next_since)
    assert last.lines == ["b 2", "b 3", "b 4"] and last.truncated  # two lines after since were left out
    with pytest.raises(InvalidJobSpec) as err:
        await backend.logs(info.id, since=tail.next_since + 1)
    assert err.value.field == "since"


async def _tail_ending(backend: RayBackend, job_id: str, line: str) -> Any:
    chunk = await backend.logs(job_id, tail=2)
    return chunk if chunk.lines[-1:] == [line] else None


async def test_run_job_script_without_uv_runs_with_the_nodes_python(backend: RayBackend, tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('script says', sys.argv[1:])\n")
    info = await backend.submit(JobSpec(script=str(script), script_args=["--x", "1"]))
    assert (await finished(backend, info.id)).stage is JobStage.COMPLETED
    lines = (await backend.logs(info.id, tail=5)).lines
    assert "script says ['--x', '1']" in lines


async def test_labels_filter_and_paging(backend: RayBackend) -> None:
    run = uuid.uuid4().hex[:8]
    ids = []
    for i in range(3):
        info = await backend.submit(JobSpec(command=["true"], labels={"run": run, "n": str(i)}))
        ids.append(info.id)
    other = await backend.submit(JobSpec(command=["true"], labels={"run": "other-" + run}))

    first = await backend.list(labels={"run": run}, limit=2)
    assert len(first.jobs) == 2 and first.next_cursor
    second = await backend.list(labels={"run": run}, limit=2, cursor=first.next_cursor)
    assert second.next_cursor is None
    listed = [job.id for job in first.jobs + second.jobs]
    assert listed == list(reversed(ids))  # newest first, each once, the other label's job left out
    assert other.id not in listed
    assert [job.labels["n"] for job in first.jobs + second.jobs] == ["2", "1", "0"]

    both = await backend.list(labels={"run": run, "n": "1"})
    assert [job.id for job in both.jobs] == [ids[1]]
    for job_id in [*ids, other.id]:
        await finished(backend, job_id)
    done = await backend.list(labels={"run": run}, stages={JobStage.COMPLETED})
    assert {job.id for job in done.jobs} == set(ids)
    assert (await backend.list(labels={"run": run}, stages={JobStage.RUNNING})).jobs == []
    with pytest.raises(InvalidJobSpec) as err:
        await backend.list(cursor="not-a-cursor")
    assert err.value.field == "cursor"


# --- flavors ---


async def test_flavor_the_cluster_cannot_hold_is_refused_and_hardware_marks_runnable(ray_head: RayHead,
                                                                                     tmp_path: Path) -> None:
    async with connect(settings(ray_head, tmp_path)) as client:
        _, hardware = await call(client, "list_hardware")
        runnable = {f["name"] for f in hardware["flavors"] if f["runnable"]}
        assert runnable == {"cpu-basic"}  # 2 CPUs and 17 GB: nothing bigger, and no GPU
        before = (await call(client, "list_jobs"))[1]["jobs"]
        error = await call_error(client, "run_job", command=["true"], flavor="a10g-large")
        assert "cannot hold a10g-large" in error and "1 GPUs" in error and "cpu-basic" in error
        error = await call_error(client, "run_job", command=["true"], flavor="cpu-upgrade")
        assert "8 CPUs" in error and "2 CPUs" in error
        assert (await call(client, "list_jobs"))[1]["jobs"] == before  # nothing was submitted


# --- cancel and timeout ---

DETACHING = textwrap.dedent("""
    import os, sys, time
    if os.fork() == 0:          # a grandchild that leaves the job's session and loses its parent
        os.setsid()
        if os.fork() == 0:
            with open(sys.argv[1], "w") as f:
                f.write(str(os.getpid()))
            time.sleep(600)
        os._exit(0)
    print("started", flush=True)
    time.sleep(600)
""")


async def test_cancel_running_and_pending_leave_nothing_running(ray_head: RayHead, backend: RayBackend,
                                                                tmp_path: Path) -> None:
    pid_file, ran = tmp_path / "detached.pid", tmp_path / "pending-ran"
    running = await backend.submit(JobSpec(command=[sys.executable, "-c", DETACHING, str(pid_file)]))
    pending = await backend.submit(JobSpec(command=[sys.executable, "-c", f"open({str(ran)!r}, 'w').close()"]))
    await eventually(pid_file.exists, timeout=JOB_S, interval=0.2, what="the detached grandchild to start")
    detached = int(pid_file.read_text())
    assert (await backend.inspect(pending.id)).stage is JobStage.SCHEDULING
    assert job_processes(running.id)

    canceled = await backend.cancel(pending.id)
    assert canceled.stage is JobStage.CANCELED and "waited for resources" in (canceled.message or "")
    stopped = await backend.cancel(running.id)
    assert stopped.stage is JobStage.CANCELED
    await eventually(lambda: not os.path.exists(f"/proc/{detached}") and not job_processes(running.id),
                     timeout=30, what="the job's processes, the detached one included, to be gone")

    # The head is free now: the PENDING job gets its resources, and still runs nothing.
    await eventually(lambda: _ray_terminal(ray_head, pending.id), timeout=JOB_S, interval=0.3,
                     what="Ray to end the canceled PENDING job")
    assert not ran.exists()
    assert not job_processes(pending.id)
    assert (await backend.inspect(pending.id)).stage is JobStage.CANCELED
    again = await backend.cancel(running.id)
    assert again.stage is JobStage.CANCELED  # cancelling a finished job changes nothing


async def _ray_terminal(head: RayHead, job_id: str) -> bool:
    return await ray_status(head, job_id) in ("STOPPED", "FAILED", "SUCCEEDED")


async def test_timeout_ends_the_job_in_error_with_nothing_left(backend: RayBackend) -> None:
    info = await backend.submit(JobSpec(command=[sys.executable, "-c", DETACHING, "/dev/null"], timeout="3s"))
    assert info.timeout == 3
    done = await finished(backend, info.id)
    assert done.stage is JobStage.ERROR
    assert "timeout of 3s" in (done.message or "")
    assert not job_processes(info.id)
    assert any("ran past its timeout" in line for line in (await backend.logs(info.id, tail=5)).lines)


# --- secrets ---


async def test_secret_reaches_the_job_but_no_result_log_or_ray_view(ray_head: RayHead, tmp_path: Path) -> None:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    program = ("import hashlib, os, sys; v = os.environ['API_SECRET']; print('value', v); print('err', v, "
               "file=sys.stderr); print('digest', hashlib.sha256(v.encode()).hexdigest())")
    async with connect(settings(ray_head, tmp_path)) as client:
        # (A value in the command itself is refused before anything reaches Ray: test_security.)
        text, out = await call(client, "run_job", command=[sys.executable, "-c", program],
                               secrets={"API_SECRET": SECRET}, env={"PLAIN": "visible"})
        job_id = out["job_id"]
        _, done = await call(client, "wait_for_job", job_id=job_id, timeout=JOB_S)
        assert done["stage"] == "COMPLETED", done
        logs_text, logs = await call(client, "fetch_logs", job_id=job_id, since=0)
        inspect_text, inspected = await call(client, "inspect_job", job_id=job_id)
        list_text, listed = await call(client, "list_jobs")
    assert f"digest {digest}" in logs["lines"]  # the job had the value
    assert "value <redacted>" in logs["lines"] and "err <redacted>" in logs["lines"]
    for shown in (text, out, done, logs_text, logs, inspect_text, inspected, list_text, listed):
        assert SECRET not in json.dumps(shown)

    async with httpx2.AsyncClient(base_url=ray_head.address) as http:
        views = [(await http.get(path)).text for path in
                 (f"/api/jobs/{job_id}", "/api/jobs/", f"/api/jobs/{job_id}/logs")]
    assert '"PLAIN": "visible"' in views[0]  # env_vars are in Ray's view in plain text: secrets must not be
    for view in views:
        assert SECRET not in view
    written = [path for path in tmp_path.rglob("*") if path.is_file()]  # the server's record of its jobs
    assert written and all(SECRET.encode() not in path.read_bytes() for path in written)


async def test_rerun_job_runs_the_launch_again_from_the_kept_spec(ray_head: RayHead, tmp_path: Path) -> None:
    program = "import os, sys; print('got', os.environ['PLAIN'], len(os.environ.get('API_SECRET', '')), sys.argv[1:])"
    async with connect(settings(ray_head, tmp_path)) as client:
        _, out = await call(client, "run_job", command=[sys.executable, "-c", program, "--x"], env={"PLAIN": "one"},
                            secrets={"API_SECRET": SECRET}, labels={"suite": "rerun"})
        _, done = await call(client, "wait_for_job", job_id=out["job_id"], timeout=JOB_S)
        assert done["stage"] == "COMPLETED", done
        error = await call_error(client, "rerun_job", job_id=out["job_id"])
        assert "API_SECRET" in error  # a secret's value is never kept: the rerun asks for it again
        _, again = await call(client, "rerun_job", job_id=out["job_id"], env={"PLAIN": "two"},
                              secrets={"API_SECRET": "x" * 7})
        assert again["job_id"] != out["job_id"] and again["secret_names"] == ["API_SECRET"]
        _, redone = await call(client, "wait_for_job", job_id=again["job_id"], timeout=JOB_S)
        assert redone["stage"] == "COMPLETED", redone
        _, logs = await call(client, "fetch_logs", job_id=again["job_id"], tail=3)
        _, inspected = await call(client, "inspect_job", job_id=again["job_id"])
    assert "got two 7 ['--x']" in logs["lines"]
    assert inspected["job"]["labels"]["suite"] == "rerun"
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written and all(SECRET.encode() not in path.read_bytes() for path in written)


# --- training ---


@pytest.mark.training
async def test_tiny_sft_completes_on_the_cluster(ray_head: RayHead, tmp_path: Path, tiny: dict[str, Path]) -> None:
    output = tmp_path / "out"
    async with connect(settings(ray_head, tmp_path / "state")) as client:
        _, out = await call(client, "launch_training", trainer="sft", model=str(tiny["model"]),
                            dataset=str(tiny["sft"] / "train.jsonl"), max_steps=2, per_device_train_batch_size=2,
                            logging_steps=1, save_strategy="no", output_dir=str(output), env=JOB_ENV)
        job_id = out["job_id"]
        assert "trl_jobs_ray.entry" in out["command"]
        _, done = await call(client, "wait_for_job", job_id=job_id, timeout=240)
        assert done["stage"] == "COMPLETED", done
        _, metrics = await call(client, "job_metrics", job_id=job_id, plot=False)
    assert metrics["source"] == "logs" and metrics["main"] == "loss" and metrics["last_step"] == 2
    assert (output / "model.safetensors").exists() and "sft" in (output / "README.md").read_text()



@pytest.mark.training
async def test_a_sweep_runs_on_the_cluster_as_one_experiment(ray_head: RayHead, tmp_path: Path,
                                                               tiny: dict[str, Path]) -> None:
    """Issue 20: the same sweep as on the local backend, here on a real head: two runs, one experiment label, both
    through the cluster as it schedules them, and compare_runs reading them back."""
    rates = [1e-4, 1e-3]
    async with connect(settings(ray_head, tmp_path / "state")) as client:
        _, swept = await call(client, "launch_training", trainer="sft", model=str(tiny["model"]),
                              dataset=str(tiny["sft"] / "train.jsonl"), max_steps=2, per_device_train_batch_size=2,
                              logging_steps=1, save_strategy="no", env=JOB_ENV, sweep={"learning_rate": rates})
        ids = [run["job_id"] for run in swept["runs"]]
        for job_id in ids:
            _, done = await call(client, "wait_for_job", job_id=job_id, timeout=240)
            assert done["stage"] == "COMPLETED", done
        _, listed = await call(client, "list_jobs", labels={"experiment": swept["experiment"]})
        text, compared = await call(client, "compare_runs", runs=[swept["experiment"]])
    assert len(set(ids)) == 2 and sorted(j["id"] for j in listed["jobs"]) == sorted(ids)
    assert [r["job_id"] for r in compared["runs"]] == ids
    assert [r["differs"] for r in compared["runs"]] == [{"learning_rate": str(lr)} for lr in rates]
    assert compared["best"] in ids and "learning_rate" in text


# --- the head going away ---


async def test_head_unreachable_then_back_reports_what_it_forgot(ray_head: RayHead, tmp_path: Path) -> None:
    async with connect(settings(ray_head, tmp_path)) as client:
        _, out = await call(client, "run_job", command=["true"], labels={"before": "restart"})
        job_id = out["job_id"]
        _, done = await call(client, "wait_for_job", job_id=job_id, timeout=JOB_S)
        assert done["stage"] == "COMPLETED"

        ray_head.stop()
        try:
            for tool, args in (("list_jobs", {}), ("inspect_job", {"job_id": job_id}),
                               ("fetch_logs", {"job_id": job_id}), ("cancel_job", {"job_id": job_id}),
                               ("list_hardware", {}), ("run_job", {"command": ["true"]})):
                error = await call_error(client, tool, **args)
                assert ray_head.address in error and "ray start --head" in error, (tool, error)
        finally:
            ray_head.start()

        # A restarted head has no job history: the job is still reported, as forgotten, with what was last seen.
        _, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["job"]["stage"] == "COMPLETED"
        assert "no longer knows this job" in inspected["job"]["message"]
        _, listed = await call(client, "list_jobs", labels={"before": "restart"})
        assert [job["id"] for job in listed["jobs"]] == [job_id]
        _, after = await call(client, "run_job", command=["true"])
        _, done = await call(client, "wait_for_job", job_id=after["job_id"], timeout=JOB_S)
        assert done["stage"] == "COMPLETED"


def gcs_value(head: RayHead, key: str) -> bytes | None:
    """What the head's GCS holds under a package key, read the way the wrapper reads it (Ray's own GcsClient)."""
    read = subprocess.run([sys.executable, "-c", "import sys; from ray._raylet import GcsClient; "
                           f"v = GcsClient(address='127.0.0.1:{head.gcs_port}').internal_kv_get(sys.argv[1].encode(), "
                           "None); sys.stdout.write('NONE' if v is None else v.hex())", f"gcs://{key}"],
                          capture_output=True, text=True, timeout=60, check=True)
    return None if read.stdout == "NONE" else bytes.fromhex(read.stdout)


async def test_a_job_that_never_ran_leaves_no_secret_in_the_gcs(ray_head: RayHead, backend: RayBackend,
                                                                tmp_path: Path) -> None:
    """Bug (issue 23): a job cancelled while PENDING, or whose wrapper never ran, left its secrets package readable
    in the GCS, under a key GET /api/jobs/ shows. Now every ending the server sees empties it (and pins it, so the
    GCS deletes it when the pin expires)."""
    from trl_jobs_mcp.jobs.backends.ray.leftovers import secrets_key

    blocker = await backend.submit(JobSpec(command=[sys.executable, "-c", "import time; time.sleep(300)"]))
    pending = await backend.submit(JobSpec(command=[sys.executable, "-c", "print('ran')"],
                                           secrets={"API_SECRET": SECRET}))
    async with httpx2.AsyncClient(base_url=ray_head.address) as http:
        key = secrets_key((await http.get(f"/api/jobs/{pending.id}")).json())
    assert key and SECRET.encode() in (gcs_value(ray_head, key) or b"")  # waiting for its wrapper, as designed
    assert (await backend.inspect(pending.id)).stage is JobStage.SCHEDULING

    assert (await backend.cancel(pending.id)).stage is JobStage.CANCELED
    assert not gcs_value(ray_head, key)

    await backend.cancel(blocker.id)
