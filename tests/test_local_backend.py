"""The local executor with real child processes (tests/children/*.py): run, fail, cancel, timeout, queue, secrets,
restart after a crash, hostile input, listing.

Synchronisation is by polling with deadlines on what the processes write, never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from polling import eventually, holds

from trl_jobs_mcp.jobs.backends.local import JobPaths, LocalBackend
from trl_jobs_mcp.jobs.backends.local.paths import process_alive
from trl_jobs_mcp.jobs.backends.local.store import Store
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobInfo, JobNotFoundError, JobSpec, JobStage

pytestmark = pytest.mark.anyio

CHILDREN = Path(__file__).parent / "children"
PY = sys.executable
ROOT = Path(__file__).parent.parent


def child(name: str, *args: str | Path) -> list[str]:
    return [PY, str(CHILDREN / name), *map(str, args)]


WAIT = 15.0  # seconds any one step of a job may take here


async def finished(backend: LocalBackend, job_id: str) -> JobInfo:
    async def done() -> JobInfo | None:
        info = await backend.inspect(job_id)
        return info if info.finished else None
    return await eventually(done, timeout=WAIT, what=f"job {job_id} to finish")


async def beating(folder: Path, what: str = "the first heartbeat") -> None:
    """heartbeat.py's grandchild in `folder` has beaten once: the job's command is running."""
    await eventually(lambda: (folder / "heartbeat").exists(), timeout=WAIT, what=what)


def pid_gone(path: Path) -> bool:
    return not process_alive(int(path.read_text()), None)


async def heartbeat_stands_still(folder: Path) -> None:
    """The heartbeat file does not change over 0.2 s (the grandchild beats every 20 ms)."""
    before = (folder / "heartbeat").read_text()
    await holds(lambda: (folder / "heartbeat").read_text() == before, duration=0.2,
                what=f"the heartbeat in {folder} to stand still")


BACKEND_GRACE = 2.0  # seconds; the make_backend fixture (conftest) reads it


async def test_job_runs_with_its_env_folder_and_output_dir(make_backend, state_dir: Path, tmp_path: Path) -> None:
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=child("echo_env.py", "0", "two words"), env={"MY_VAR": "v"},
                                        labels={"team": "a"}))
    assert info.stage in (JobStage.SCHEDULING, JobStage.RUNNING)
    done = await finished(backend, info.id)
    assert done.stage == JobStage.COMPLETED and done.exit_code == 0 and done.message is None
    assert done.started_at and done.finished_at and done.created_at <= done.started_at <= done.finished_at
    paths = backend.paths(info.id)
    assert done.output_dir == str(paths.output) and paths.output.is_dir()
    assert paths.root == state_dir / "jobs" / info.id
    chunk = await backend.logs(info.id)
    seen = json.loads(chunk.lines[0])
    assert seen["argv"] == ["0", "two words"]
    assert seen["cwd"] == str(paths.root)
    assert seen["env"] == {"TRL_JOBS_OUTPUT_DIR": str(paths.output), "TRL_JOBS_JOB_ID": info.id,
                           "PYTHONUNBUFFERED": "1", "MY_VAR": "v", "MY_SECRET": None}
    assert "to stderr" in chunk.lines and chunk.finished
    spec = json.loads(paths.spec.read_text())
    assert spec["spec"]["env"] == {"MY_VAR": "v"} and spec["spec"]["labels"] == {"team": "a"}

    # An explicit working dir and a relative output dir, which lands inside it.
    work = tmp_path / "work"
    work.mkdir()
    info = await backend.submit(JobSpec(command=child("echo_env.py", "0"), working_dir=str(work), output_dir="out"))
    assert info.output_dir == str(work / "out")
    await finished(backend, info.id)
    seen = json.loads((await backend.logs(info.id)).lines[0])
    assert seen["cwd"] == str(work) and seen["env"]["TRL_JOBS_OUTPUT_DIR"] == str(work / "out")


async def test_failed_job_is_an_error_with_its_code_and_last_line(make_backend) -> None:
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=child("echo_env.py", "3")))
    done = await finished(backend, info.id)
    assert done.stage == JobStage.ERROR and done.exit_code == 3
    assert done.message == "exited with code 3; last log line: last words"


async def test_cancel_stops_the_grandchild_and_a_second_cancel_changes_nothing(make_backend, tmp_path: Path) -> None:
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=child("heartbeat.py", tmp_path)))
    await beating(tmp_path)
    assert (await backend.inspect(info.id)).stage == JobStage.RUNNING

    canceled = await backend.cancel(info.id)
    assert canceled.stage == JobStage.CANCELED and canceled.message == "canceled by request"
    assert canceled.exit_code == -signal.SIGTERM  # the supervisor is gone when cancel returns
    assert pid_gone(tmp_path / "child.pid") and pid_gone(tmp_path / "grandchild.pid")
    await heartbeat_stands_still(tmp_path)
    assert (await backend.logs(info.id)).finished

    again = await backend.cancel(info.id)
    assert again.stage == JobStage.CANCELED and "already finished (CANCELED)" in again.message
    assert (await backend.inspect(info.id)) == canceled  # the stored record is untouched


async def test_a_job_that_ignores_sigterm_is_killed_after_the_grace(make_backend, tmp_path: Path) -> None:
    backend = await make_backend(grace=0.5)
    info = await backend.submit(JobSpec(command=child("heartbeat.py", tmp_path, "--ignore-term")))
    await beating(tmp_path)
    started = time.monotonic()
    canceled = await backend.cancel(info.id)
    assert 0.5 <= time.monotonic() - started < 5
    assert canceled.stage == JobStage.CANCELED and canceled.exit_code == -signal.SIGKILL
    assert pid_gone(tmp_path / "grandchild.pid")
    await heartbeat_stands_still(tmp_path)


async def test_timeout_fires_and_the_process_group_is_gone(make_backend, tmp_path: Path) -> None:
    backend = await make_backend(grace=0.5)
    info = await backend.submit(JobSpec(command=child("heartbeat.py", tmp_path), timeout="1s"))
    assert info.timeout == 1.0
    done = await finished(backend, info.id)
    assert done.stage == JobStage.ERROR
    assert done.message.startswith("hit its timeout of 1s and was stopped")
    assert done.exit_code == -signal.SIGTERM
    assert pid_gone(tmp_path / "child.pid") and pid_gone(tmp_path / "grandchild.pid")
    await heartbeat_stands_still(tmp_path)


async def test_more_jobs_than_slots_wait_and_run_in_order(make_backend, tmp_path: Path) -> None:
    backend = await make_backend(slots=1)
    trace = tmp_path / "trace"
    jobs = [await backend.submit(JobSpec(command=child("ordered.py", trace, f"job{i}"))) for i in range(4)]
    assert [j.stage for j in jobs[1:]] == [JobStage.SCHEDULING] * 3
    for job in jobs:
        assert (await finished(backend, job.id)).stage == JobStage.COMPLETED
    assert trace.read_text().split("\n")[:-1] == [f"job{i} {what}" for i in range(4) for what in ("start", "end")]

    # Two slots: two at once, and the third waits for one of them.
    backend2 = await make_backend(slots=2)
    hold = [tmp_path / f"hold{i}" for i in range(3)]
    for folder in hold:
        folder.mkdir()
    held = [await backend2.submit(JobSpec(command=child("heartbeat.py", folder))) for folder in hold]
    await eventually(lambda: all((h / "heartbeat").exists() for h in hold[:2]), timeout=WAIT,
                     what="two jobs running")
    assert (await backend2.inspect(held[2].id)).stage == JobStage.SCHEDULING
    await backend2.cancel(held[0].id)
    await beating(hold[2], "the third job to start")


async def test_two_servers_on_one_state_dir_share_the_slots_and_run_each_job_once(make_backend,
                                                                                     tmp_path: Path) -> None:
    # Two MCP clients each starting a server with the default state dir is the ordinary case, not an edge.
    first, second = await make_backend(slots=1), await make_backend(slots=1)
    trace = tmp_path / "trace"
    jobs = [await (first, second)[i % 2].submit(JobSpec(command=child("ordered.py", trace, f"job{i}")))
            for i in range(4)]
    for job in jobs:
        assert (await finished(second, job.id)).stage == JobStage.COMPLETED
    # Never two at once (one slot between them), each exactly once, in submission order.
    assert trace.read_text().split("\n")[:-1] == [f"job{i} {what}" for i in range(4) for what in ("start", "end")]


async def test_cancel_a_queued_job(make_backend, tmp_path: Path) -> None:
    backend = await make_backend(slots=1)
    first = await backend.submit(JobSpec(command=child("heartbeat.py", tmp_path)))
    queued = await backend.submit(JobSpec(command=child("echo_env.py", "0")))
    canceled = await backend.cancel(queued.id)
    assert canceled.stage == JobStage.CANCELED and canceled.message == "canceled before it started"
    assert canceled.started_at is None
    await backend.cancel(first.id)
    assert (await backend.inspect(queued.id)).stage == JobStage.CANCELED  # never started
    assert not backend.paths(queued.id).log.exists()
    chunk = await backend.logs(queued.id)
    assert chunk.lines == [] and chunk.finished


SECRET = "hf_Sup3rS3cretValue_9f8e7d"


async def test_a_secret_never_reaches_the_disk_or_a_result(make_backend, state_dir: Path) -> None:
    backend = await make_backend()
    info = await backend.submit(JobSpec(
        command=child("print_secret.py"), secrets={"MY_SECRET": SECRET},
        env={"ALSO": f"x{SECRET}"}, labels={"note": SECRET}))  # in argv it is refused (test_security)
    assert SECRET not in info.model_dump_json()
    done = await finished(backend, info.id)
    assert done.stage == JobStage.COMPLETED
    chunk = await backend.logs(info.id)
    assert chunk.lines == ["whole: <redacted>", "split: <redacted> end", "glued:xx<redacted><redacted>yy",
                           "stderr: <redacted>", "done"]
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    spec = json.loads(backend.paths(info.id).spec.read_text())
    assert spec["secret_names"] == ["MY_SECRET"] and "secrets" not in spec["spec"]

    # A new backend (no secrets in memory) reads the same scrubbed log.
    other = await make_backend()
    assert (await other.logs(info.id)).lines == chunk.lines


async def test_hf_token_placeholder_is_the_callers_token_and_is_scrubbed(make_backend, state_dir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # As on Hugging Face Jobs, "$HF_TOKEN" means the caller's token; written in env it is still treated as a secret.
    monkeypatch.setenv("HF_TOKEN", SECRET)
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=child("print_secret.py"), env={"MY_SECRET": "$HF_TOKEN"}))
    done = await finished(backend, info.id)
    assert done.stage == JobStage.COMPLETED
    assert (await backend.logs(info.id)).lines[0] == "whole: <redacted>"
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(state_dir / "no-token"))
    with pytest.raises(InvalidJobSpec, match="secrets.*HF_TOKEN.*hf auth login"):
        await backend.submit(JobSpec(command=child("print_secret.py"), secrets={"MY_SECRET": "$HF_TOKEN"}))


async def test_the_host_killed_mid_job_then_a_new_backend_adopts_and_cancels(make_backend, state_dir: Path,
                                                                            tmp_path: Path) -> None:
    job_id = await _host_killed_mid_job(state_dir, "30m", tmp_path)
    backend = await make_backend()
    info = await backend.inspect(job_id)
    assert info.stage == JobStage.RUNNING  # adopted: its supervisor outlived the host
    canceled = await backend.cancel(job_id)
    assert canceled.stage == JobStage.CANCELED and canceled.exit_code == -signal.SIGTERM
    assert pid_gone(tmp_path / "grandchild.pid")
    await heartbeat_stands_still(tmp_path)


async def test_the_host_killed_then_the_timeout_still_fires(make_backend, state_dir: Path, tmp_path: Path) -> None:
    job_id = await _host_killed_mid_job(state_dir, "1s", tmp_path, after_first_beat=False)
    # Nobody watches the job now; its supervisor alone ends it.
    await eventually(lambda: backend_paths(state_dir, job_id).exit.exists(), timeout=WAIT,
                     what="the supervisor to record the exit")
    assert pid_gone(tmp_path / "grandchild.pid")
    backend = await make_backend()
    info = await finished(backend, job_id)
    assert info.stage == JobStage.ERROR and info.message.startswith("hit its timeout of 1s")


async def test_a_job_that_vanished_while_the_host_was_down_is_an_error(make_backend, state_dir: Path,
                                                                       tmp_path: Path) -> None:
    job_id = await _host_killed_mid_job(state_dir, "30m", tmp_path)
    store = Store(state_dir / "jobs.db")
    row = store.get(job_id)
    store.close()
    os.kill(row.pid, signal.SIGKILL)  # the supervisor dies without a word: as if the machine had rebooted
    await eventually(lambda: not process_alive(row.pid, row.pid_start), timeout=WAIT, what="the supervisor to die")
    backend = await make_backend()
    info = await backend.inspect(job_id)
    assert info.stage == JobStage.ERROR
    assert info.message.startswith("the job's process vanished while the server was down")
    # Its command, orphaned, is stopped rather than left running unseen.
    await eventually(lambda: pid_gone(tmp_path / "child.pid"), timeout=WAIT, what="the orphaned command to be stopped")
    assert (await backend.logs(job_id)).finished


async def test_a_restart_runs_the_queue_left_behind(make_backend, state_dir: Path, tmp_path: Path) -> None:
    first = await make_backend(slots=1)
    blocker = await first.submit(JobSpec(command=child("heartbeat.py", tmp_path)))
    await beating(tmp_path, "the blocker to run")
    queued = await first.submit(JobSpec(command=child("echo_env.py", "0")))
    claimed = await first.submit(JobSpec(command=child("echo_env.py", "0")))
    await first.aclose()
    # As if a server had died between claiming `claimed` and starting it: RUNNING, no pid, long ago.
    store = Store(state_dir / "jobs.db")
    store.update(claimed.id, stage="RUNNING", live=1, started_at=time.time() - 3600)
    store.close()

    second = await make_backend(slots=3)
    assert (await second.inspect(blocker.id)).stage == JobStage.RUNNING  # adopted, still running
    for job in (queued, claimed):
        assert (await finished(second, job.id)).stage == JobStage.COMPLETED
    assert json.loads((await second.logs(claimed.id)).lines[0])["env"]["TRL_JOBS_JOB_ID"] == claimed.id
    assert (await second.cancel(blocker.id)).stage == JobStage.CANCELED


def backend_paths(home: Path, job_id: str) -> JobPaths:
    return JobPaths(home, job_id)


async def _host_killed_mid_job(home: Path, timeout: str, folder: Path, *, after_first_beat: bool = True) -> str:
    """Have a server stand-in (children/host.py) start heartbeat.py in `folder`, then SIGKILL it: a server that
    crashed mid-job. Returns the job's id."""
    host = subprocess.Popen([PY, str(CHILDREN / "host.py"), str(home), timeout, *child("heartbeat.py", folder)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    job_id = host.stdout.readline().strip()
    host.stdout.close()
    assert job_id, "the host printed no job id"
    if after_first_beat:
        await beating(folder)
    host.kill()
    host.wait()
    return job_id


HOSTILE = ["a'; echo pwned > pwned; '", "$(touch pwned)", "`touch pwned`", "../../../etc/passwd", "x\ny", 'q"uote',
           "; rm -rf /", "|| true", "-", "--flag=$HOME", "ünïcödé ✓"]


async def test_hostile_names_are_data(make_backend, tmp_path: Path) -> None:
    backend = await make_backend()
    work = tmp_path / "a'; echo pwned $(touch pwned) ..;"
    work.mkdir()
    labels = {"k'; DROP TABLE jobs; --": "$(touch pwned)", "path": "../../x", "nl": "a\nb"}
    info = await backend.submit(JobSpec(command=child("echo_env.py", "0", *HOSTILE), working_dir=str(work),
                                        labels=labels, env={"MY_VAR": "$(touch pwned); `id`"}))
    assert (await finished(backend, info.id)).stage == JobStage.COMPLETED
    seen = json.loads((await backend.logs(info.id)).lines[0])
    assert seen["argv"] == ["0", *HOSTILE] and seen["cwd"] == str(work)
    assert seen["env"]["MY_VAR"] == "$(touch pwned); `id`"
    assert not list(tmp_path.rglob("pwned")) and not (ROOT / "pwned").exists()
    assert backend.paths(info.id).root.parent == backend.home / "jobs"
    page = await backend.list(labels={"k'; DROP TABLE jobs; --": "$(touch pwned)"})
    assert [j.id for j in page.jobs] == [info.id] and page.jobs[0].labels == labels
    assert (await backend.list(labels={"path": "../../x", "nl": "a\nb"})).jobs[0].id == info.id
    for bad in ("../../etc", "", "x" * 16, info.id + "/..", info.id.upper()):
        with pytest.raises(JobNotFoundError):
            await backend.inspect(bad)
        with pytest.raises(JobNotFoundError):
            await backend.logs(bad, tail=5)
        with pytest.raises(JobNotFoundError):
            await backend.cancel(bad)


async def test_list_filters_by_stage_and_labels_and_pages_newest_first(make_backend, tmp_path: Path) -> None:
    backend = await make_backend(slots=1)
    blocker = await backend.submit(JobSpec(command=child("heartbeat.py", tmp_path), labels={"kind": "blocker"}))
    await beating(tmp_path, "the blocker to run")
    queued = [await backend.submit(JobSpec(command=child("echo_env.py", "0"),
                                           labels={"kind": "q", "parity": str(i % 2)})) for i in range(23)]
    ids = [j.id for j in queued]
    assert ids == sorted(ids)  # ids sort by creation

    seen, cursor, pages = [], None, 0
    while True:
        page = await backend.list(limit=10, cursor=cursor)
        seen += [j.id for j in page.jobs]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and seen == [*reversed(ids), blocker.id]
    running = await backend.list(stages={JobStage.RUNNING})
    assert [j.id for j in running.jobs] == [blocker.id] and running.next_cursor is None
    odd = await backend.list(labels={"kind": "q", "parity": "1"}, stages={JobStage.SCHEDULING}, limit=5)
    assert [j.id for j in odd.jobs] == list(reversed(ids[1::2]))[:5]
    rest = await backend.list(labels={"kind": "q", "parity": "1"}, stages={JobStage.SCHEDULING}, limit=50,
                              cursor=odd.next_cursor)
    assert [j.id for j in rest.jobs] == list(reversed(ids[1::2]))[5:] and rest.next_cursor is None
    assert (await backend.list(labels={"kind": "nope"})).jobs == []
    for bad in ({"limit": 0}, {"limit": 100000}, {"cursor": "abc"}, {"cursor": "1; DROP TABLE jobs"},
                {"stages": {"FINISHED"}}):
        with pytest.raises(InvalidJobSpec) as err:
            await backend.list(**bad)
        assert err.value.field == next(iter(bad))
    for job in queued:
        await backend.cancel(job.id)
    assert len((await backend.list(stages={JobStage.CANCELED})).jobs) == 23


async def test_bad_specs_are_refused_and_nothing_is_created(make_backend, state_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRL_JOBS_LOCAL_GPUS", "0")
    backend = await make_backend()
    cases = [
        (JobSpec(command=["true"], flavor="a10g-large"), "flavor"),
        (JobSpec(command=["true"], flavor="nope-large"), "flavor"),
        (JobSpec(command=["true"], image="ubuntu:24.04"), "image"),
        (JobSpec(command=["no-such-program-here"]), "command"),
        (JobSpec(command=["./missing.sh"]), "command"),
        (JobSpec(command=["true"], working_dir=str(tmp_path / "missing")), "working_dir"),
        (JobSpec(script=str(tmp_path / "missing.py")), "script"),
        (JobSpec(script="https://example.com/train.py"), "script"),
    ]
    for spec, field in cases:
        with pytest.raises(InvalidJobSpec) as err:
            await backend.submit(spec)
        assert err.value.field == field, (spec, err.value)
    # A workstation of 16 cores and 64 GB: what a flavor asks for is compared with what it has.
    from trl_jobs_mcp.jobs.backends.local import backend as backend_module
    from trl_jobs_mcp.jobs.backends.local.machine import Machine

    monkeypatch.setattr(backend_module, "this_machine", lambda: Machine(cpus=16, ram_gb=64, gpus=int(
        os.environ["TRL_JOBS_LOCAL_GPUS"])))
    gpu = str(_raised(backend.check_flavor, "a10g-large"))
    assert "needs 1 x A10G GPU" in gpu and "no GPU" in gpu and "cpu-basic" in gpu and "--backend hf" in gpu
    assert "a10g-small" not in gpu
    assert (await backend.list()).jobs == [] and list((state_dir / "jobs").iterdir()) == []
    assert backend.check_flavor("cpu-upgrade").runnable is True
    flavors = {f.name: f.runnable for f in await backend.hardware()}
    assert flavors["cpu-basic"] is True and flavors["a10g-large"] is False and flavors["cpu-xl"] is False

    monkeypatch.setenv("TRL_JOBS_LOCAL_GPUS", "1")
    assert backend.check_flavor("a10g-large").runnable is True
    assert "needs 2 x A10G" in str(_raised(backend.check_flavor, "a10g-largex2"))
    assert "needs 23 vCPU and 256 GB RAM" in str(_raised(backend.check_flavor, "h200"))


async def test_only_what_this_machine_holds_is_runnable(make_backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """On 2 cores and 24 GB, cpu-performance (32 vCPU, 256 GB) is not runnable, and the backend says what a flavor
    means here; cpu-basic runs even on a smaller machine."""
    from trl_jobs_mcp.jobs.backends.local import backend as backend_module
    from trl_jobs_mcp.jobs.backends.local import machine
    from trl_jobs_mcp.jobs.backends.local.machine import Machine

    small = Machine(cpus=2, ram_gb=24.5, gpus=0)
    monkeypatch.setattr(backend_module, "this_machine", lambda: small)
    monkeypatch.setattr(machine, "this_machine", lambda: small)  # the note, read once when the backend is made
    backend = await make_backend()
    runnable = {f.name for f in await backend.hardware() if f.runnable}
    assert runnable == {"cpu-basic"}
    refusal = str(_raised(backend.check_flavor, "cpu-performance"))
    assert "needs 32 vCPU and 256 GB RAM" in refusal and "2 cores, 24 GB RAM, no GPU" in refusal
    assert "Flavors that run here: cpu-basic." in refusal
    note = backend.traits.hardware_note
    assert "shares its cores and memory" in note and "2 cores, 24 GB RAM, no GPU" in note
    monkeypatch.setattr(backend_module, "this_machine", lambda: Machine(cpus=1, ram_gb=4, gpus=0))
    assert backend.check_flavor("cpu-basic").runnable is True


def _raised(fn, *args) -> Exception:
    try:
        fn(*args)
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


async def test_a_script_without_dependencies_runs_with_this_python(make_backend, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(p) / "uv").exists()))
    script = tmp_path / "train.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\n")
    backend = await make_backend()
    info = await backend.submit(JobSpec(script=str(script), script_args=["--lr", "1e-5"]))
    assert info.command == [PY, str(script), "--lr", "1e-5"]
    await finished(backend, info.id)
    assert (await backend.logs(info.id)).lines == ["args ['--lr', '1e-5']"]
    needy = tmp_path / "needy.py"
    needy.write_text('# /// script\n# dependencies = ["trl"]\n# ///\nimport trl\n')
    with pytest.raises(InvalidJobSpec, match="inline metadata") as err:
        await backend.submit(JobSpec(script=str(needy)))
    assert err.value.field == "script"
    with pytest.raises(InvalidJobSpec, match="uv"):
        await backend.submit(JobSpec(script=str(script), dependencies=["trl"]))


async def test_cancel_by_labels_or_ids_never_starts_a_queued_job(state_dir: Path, tmp_path: Path) -> None:
    """Bug (issue 23): cancelling 50 queued jobs, one call each, started each before its cancel arrived (49 model
    loads): every cancel of the running job handed its slot to the next. Now cancel_job takes a label filter or a
    list, drops the queued jobs before it stops the running one, and says what it cancelled and what had ended."""
    from mcp_client import call, call_error, local_client

    async with local_client(state_dir) as client:  # one slot
        _, first = await call(client, "run_job", command=[PY, "-c", "pass"], labels={"sweep": "a"})
        await eventually(lambda: (state_dir / "jobs" / first["job_id"] / "exit.json").exists(), timeout=WAIT,
                         what="the first job to end")
        _, blocker = await call(client, "run_job", command=child("heartbeat.py", tmp_path), labels={"sweep": "a"})
        await beating(tmp_path)
        queued = [(await call(client, "run_job", command=[PY, "-c", "pass"], labels={"sweep": "a"}))[1]["job_id"]
                  for _ in range(12)]
        other = (await call(client, "run_job", command=[PY, "-c", "pass"], labels={"sweep": "b"}))[1]["job_id"]

        text, out = await call(client, "cancel_job", labels={"sweep": "a"})
        assert sorted(out["canceled"]) == sorted([*queued, blocker["job_id"]]) and out["ended"] == []
        assert "Canceled 13 job(s)" in text
        for job_id in queued:  # never started: no supervisor ever opened its log
            assert not (state_dir / "jobs" / job_id / "log").exists()
        await heartbeat_stands_still(tmp_path)

        text, out = await call(client, "cancel_job", job_id=[first["job_id"], queued[0], other])
        assert set(out["ended"]) - {other} == {first["job_id"], queued[0]}
        assert (other in out["canceled"]) != (other in out["ended"])  # `other` may have run meanwhile
        assert "already ended" in text
        for wrong in ({}, {"job_id": other, "labels": {"sweep": "b"}}):
            assert "job_id: give either job_id" in await call_error(client, "cancel_job", **wrong)
