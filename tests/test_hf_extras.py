"""Hugging Face Jobs beyond one run: local data uploaded to a private repo (once), scheduled jobs, reruns, timeouts
that keep the run. The real MCP client in-process, the real huggingface_hub client, the fake Jobs/Hub API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp_client import Person, call, call_error, hf_client, local_client

from trl_jobs_mcp.jobs.backends.hf.guard import unguarded

pytestmark = pytest.mark.anyio

ROWS = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(4)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def dataset_arg(command: list[str]) -> str:
    return next(word.split("=", 1)[1] for word in command if word.startswith("--dataset_name="))


async def test_a_local_jsonl_goes_to_a_private_repo_once_and_the_job_reads_it(fake_hf: FakeHFJobs,
                                                                              tmp_path: Path) -> None:
    # "test" in the name: uploaded as train.jsonl all the same, so the Hub's loader sees a train split.
    data = write_jsonl(tmp_path / "my test data.jsonl", ROWS)
    launch = dict(model="Qwen/Qwen2-0.5B", dataset=str(data), max_steps=5, flavor="cpu-basic")
    person = Person("accept")
    async with hf_client(fake_hf, elicitation=person) as client:
        refused = await call_error(client, "launch_training", **launch)
        assert "upload_local_data=true" in refused and "private dataset repo alice/trl-jobs-dataset-" in refused
        assert f"{data.stat().st_size} B" in refused
        assert fake_hf.repos == {} and fake_hf.launches() == 0 and person.asked == []

        text, dry = await call(client, "launch_training", **launch, upload_local_data=True, dry_run=True)
        [planned] = dry["uploads"]
        assert planned["status"] == "planned" and planned["bytes"] == data.stat().st_size and planned["files"] == 1
        assert planned["repo_id"].startswith("alice/trl-jobs-dataset-") and planned["repo_type"] == "dataset"
        assert planned["repo_id"] in text and "[planned]" in text and "asks the user to agree" in text
        assert dataset_arg(dry["command"]) == planned["repo_id"] and "HF_TOKEN" in dry["secret_names"]
        assert fake_hf.repos == {} and fake_hf.launches() == 0  # a dry run creates nothing, and asks nothing
        assert person.asked == []

        _, first = await call(client, "launch_training", **launch, upload_local_data=True)
        [question] = person.asked  # what, how much, where, private, and who can read it
        assert str(data) in question and "1 file" in question and f"{data.stat().st_size} B" in question
        assert f"PRIVATE dataset repo {planned['repo_id']}" in question and "only you (alice)" in question
        repo = fake_hf.repos[planned["repo_id"]]
        assert repo["private"] is True and repo["type"] == "dataset" and repo["commits"] == 1
        assert repo["files"] == {"train.jsonl": data.read_bytes()}
        assert first["uploads"][0]["status"] == "uploaded"
        posted = fake_hf.posted_specs[-1]
        assert dataset_arg(posted["command"]) == planned["repo_id"] and "HF_TOKEN" in posted["secrets"]

        _, second = await call(client, "launch_training", **launch, upload_local_data=True)
        assert second["uploads"][0]["status"] == "already on the Hub" and repo["commits"] == 1
        assert len(person.asked) == 1  # nothing new leaves the machine: nothing to ask
        assert fake_hf.launches() == 2

        write_jsonl(data, ROWS[:2])  # changed content: a new repo, the old one untouched
        _, third = await call(client, "launch_training", **launch, upload_local_data=True)
        assert third["uploads"][0]["repo_id"] != planned["repo_id"] and len(fake_hf.repos) == 2
    assert fake_hf.token not in json.dumps([dry, first, second, third])


async def test_an_upload_never_lands_in_a_public_repo(fake_hf: FakeHFJobs, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", ROWS)
    async with hf_client(fake_hf, elicitation=Person("accept")) as client:
        _, dry = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=str(data),
                            upload_local_data=True, dry_run=True)
        fake_hf.repos[dry["uploads"][0]["repo_id"]] = {"type": "dataset", "private": False, "files": {},
                                                      "commits": 0}
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=str(data),
                                 upload_local_data=True)
    assert "upload_local_data" in error and "public" in error and fake_hf.launches() == 0


async def test_a_local_model_folder_is_uploaded_as_a_private_model_repo(fake_hf: FakeHFJobs, tmp_path: Path) -> None:
    model = tmp_path / "my-model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "sub" / "weights.bin").write_bytes(b"\0" * 100)
    async with hf_client(fake_hf, elicitation=Person("accept")) as client:
        _, out = await call(client, "launch_training", model=str(model), dataset="trl-lib/Capybara",
                            upload_local_data=True)
    [upload] = out["uploads"]
    repo = fake_hf.repos[upload["repo_id"]]
    assert upload["repo_type"] == "model" and repo["type"] == "model" and repo["private"] is True
    assert set(repo["files"]) == {"config.json", "sub/weights.bin"} and upload["bytes"] == 123
    assert f"--model_name_or_path={upload['repo_id']}" in fake_hf.posted_specs[-1]["command"]


async def test_schedule_list_suspend_resume_trigger_delete(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        bad = await call_error(client, "run_job", command=["python", "-c", "print(1)"], schedule="every day")
        assert "schedule" in bad and "@daily" in bad and fake_hf.scheduled == {}

        text, made = await call(client, "run_job", command=["python", "-c", "print(1)"], schedule="@daily",
                                labels={"team": "ml"}, timeout="10m")
        sched_id = made["scheduled_job_id"]
        assert made["job_id"] is None and "Scheduled job" in text and "scheduled_jobs" in text
        stored = fake_hf.scheduled[sched_id]
        assert stored["schedule"] == "@daily" and stored["jobSpec"]["command"] == ["python", "-c", "print(1)"]
        assert stored["jobSpec"]["timeoutSeconds"] == 600 and fake_hf.launches() == 0

        _, trained = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara",
                                schedule="0 9 * * 1")
        uv_spec = fake_hf.scheduled[trained["scheduled_job_id"]]["jobSpec"]
        assert uv_spec["command"][:2] == ["uv", "run"] and fake_hf.scheduled[trained["scheduled_job_id"]][
            "schedule"] == "0 9 * * 1"

        text, listed = await call(client, "scheduled_jobs", action="list", labels={"team": "ml"})
        assert [s["id"] for s in listed["scheduled_jobs"]] == [sched_id] and sched_id in text

        _, paused = await call(client, "scheduled_jobs", action="suspend", scheduled_job_id=sched_id)
        assert paused["scheduled_jobs"][0]["suspended"] is True and stored["suspend"] is True
        _, resumed = await call(client, "scheduled_jobs", action="resume", scheduled_job_id=sched_id)
        assert resumed["scheduled_jobs"][0]["suspended"] is False

        text, triggered = await call(client, "scheduled_jobs", action="trigger", scheduled_job_id=sched_id)
        job_id = triggered["job_id"]
        assert fake_hf.jobs[job_id].spec["command"] == ["python", "-c", "print(1)"] and "fetch_logs" in text
        assert triggered["scheduled_jobs"][0]["last_job_id"] == job_id
        busy = await call_error(client, "scheduled_jobs", action="trigger", scheduled_job_id=sched_id)
        assert "409" in busy or "still running" in busy

        _, gone = await call(client, "scheduled_jobs", action="delete", scheduled_job_id=sched_id)
        assert gone["deleted"] is True and sched_id not in fake_hf.scheduled
        missing = await call_error(client, "scheduled_jobs", action="inspect", scheduled_job_id=sched_id)
        assert "No scheduled job" in missing and "action='list'" in missing
        needs_id = await call_error(client, "scheduled_jobs", action="suspend")
        assert "scheduled_job_id" in needs_id


async def test_the_local_backend_says_it_has_no_schedules(tmp_path: Path) -> None:
    async with local_client(tmp_path / "state") as client:
        error = await call_error(client, "run_job", command=["true"], schedule="@hourly", dry_run=True)
        assert "run_job: schedule: the local backend" in error and "Hugging Face" in error
        error = await call_error(client, "scheduled_jobs", action="list")
        assert "no scheduled jobs" in error


async def test_rerun_on_hf_as_it_was_and_with_changes(fake_hf: FakeHFJobs) -> None:
    secret = "s3cr3t-value-for-the-job"
    async with hf_client(fake_hf) as client:
        _, first = await call(client, "run_job", command=["python", "-c", "print(2)"], secrets={"API_KEY": secret},
                              flavor="cpu-basic", timeout="5m")
        text, same = await call(client, "rerun_job", job_id=first["job_id"])
        assert same["as_it_was"] is True and same["job_id"] != first["job_id"]
        assert any(path.endswith(f"/{first['job_id']}/duplicate") for _, path, _ in fake_hf.requests)
        assert fake_hf.jobs[same["job_id"]].spec["secrets"] == {"API_KEY": secret}  # the Hub kept it

        asks = await call_error(client, "rerun_job", job_id=first["job_id"], flavor="t4-small")
        assert "API_KEY" in asks and "secrets" in asks and secret not in asks
        _, changed = await call(client, "rerun_job", job_id=first["job_id"], flavor="t4-small", timeout="10m",
                                secrets={"API_KEY": secret})
        posted = fake_hf.posted_specs[-1]
        assert changed["as_it_was"] is False and posted["flavor"] == "t4-small"
        assert posted["timeoutSeconds"] == 600 and posted["labels"]["rerun-of"] == first["job_id"]
        assert unguarded(posted["command"]) == ["python", "-c", "print(2)"] and posted["secrets"] == {"API_KEY": secret}
    assert secret not in json.dumps([first, same, changed]) + text


async def test_push_to_hub_pushes_checkpoints_and_a_rerun_resumes_from_the_last(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        text, out = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara",
                               push_to_hub=True, hub_model_id="alice/run", secrets={"HF_TOKEN": fake_hf.token})
        assert "--hub_strategy=checkpoint" in out["command"] and "resume=true" in text
        assert any("default 30m" in note and "stopped" in note for note in out["notes"])
        fake_hf.finish(out["job_id"], "ERROR", "Job timeout")

        _, dry = await call(client, "rerun_job", job_id=out["job_id"], resume=True, timeout="2h", dry_run=True)
        assert dry["job_id"] is None and fake_hf.launches() == 1
        _, resumed = await call(client, "rerun_job", job_id=out["job_id"], resume=True, timeout="2h")
    command = fake_hf.posted_specs[-1]["command"]
    assert command[:2] == ["bash", "-c"] and "last-checkpoint/*" in command[2] and command[3] == "alice/run"
    assert command[-1] == "--resume_from_checkpoint=Qwen2-0.5B-SFT/last-checkpoint"
    assert "uv" in command and fake_hf.posted_specs[-1]["timeoutSeconds"] == 7200
    assert "HF_TOKEN" in fake_hf.posted_specs[-1]["secrets"] and resumed["job_id"]


async def test_resume_needs_pushed_checkpoints(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        _, out = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara",
                            timeout="1h")
        assert not any("default 30m" in note for note in out["notes"])
        error = await call_error(client, "rerun_job", job_id=out["job_id"], resume=True)
    assert "resume: " in error and "push_to_hub" in error


# --- rerun on the local backend, for real ---

async def _finished(client, job_id: str) -> dict:  # type: ignore[no-untyped-def]
    from polling import eventually

    async def done() -> dict | None:
        _, out = await call(client, "inspect_job", job_id=job_id)
        return out["job"] if out["job"]["stage"] in ("COMPLETED", "ERROR", "CANCELED") else None

    return await eventually(done, timeout=60, interval=0.1, what=f"job {job_id} to finish")


async def test_rerun_on_the_local_backend_from_its_stored_spec(state_dir: Path) -> None:
    import sys

    secret = "local-secret-value-0042"
    code = "import os; print('run', os.environ['GREETING'], len(os.environ['API_KEY']))"
    async with local_client(state_dir) as client:
        _, first = await call(client, "run_job", command=[sys.executable, "-u", "-c", code],
                              env={"GREETING": "hi"}, secrets={"API_KEY": secret}, timeout="2m")
        assert (await _finished(client, first["job_id"]))["stage"] == "COMPLETED"

        asks = await call_error(client, "rerun_job", job_id=first["job_id"])
        assert "API_KEY" in asks and "secrets" in asks  # stripped from spec.json: asked for by name
        _, again = await call(client, "rerun_job", job_id=first["job_id"], env={"GREETING": "again"},
                              secrets={"API_KEY": secret})
        assert again["as_it_was"] is False and again["job_id"] != first["job_id"]
        job = await _finished(client, again["job_id"])
        _, logs = await call(client, "fetch_logs", job_id=again["job_id"], tail=10)
    assert job["stage"] == "COMPLETED" and job["labels"]["rerun-of"] == first["job_id"]
    assert f"run again {len(secret)}" in logs["lines"]
    spec_json = (state_dir / "jobs" / again["job_id"] / "spec.json").read_text()
    assert secret not in spec_json and "API_KEY" in spec_json


async def test_rerun_as_it_was_on_the_local_backend_and_resume_without_checkpoints(state_dir: Path) -> None:
    import sys

    async with local_client(state_dir) as client:
        _, first = await call(client, "run_job", command=[sys.executable, "-u", "-c", "print('same')"])
        await _finished(client, first["job_id"])
        _, again = await call(client, "rerun_job", job_id=first["job_id"])
        assert (await _finished(client, again["job_id"]))["stage"] == "COMPLETED"
        _, logs = await call(client, "fetch_logs", job_id=again["job_id"], tail=5)
        error = await call_error(client, "rerun_job", job_id=first["job_id"], resume=True)
        missing = await call_error(client, "rerun_job", job_id="0123456789abcdef")
    assert logs["lines"] == ["same"] and again["as_it_was"] is True
    assert "resume: no checkpoint-N folder" in error and "list_jobs" in missing


async def test_a_local_rerun_resumes_from_the_newest_checkpoint(state_dir: Path) -> None:
    import sys

    code = ("import os, sys; [os.makedirs(f'output/checkpoint-{n}', exist_ok=True) for n in (3, 12)]; "
            "print(sys.argv[1:])")
    async with local_client(state_dir) as client:
        _, first = await call(client, "run_job", command=[sys.executable, "-u", "-c", code])
        await _finished(client, first["job_id"])
        text, resumed = await call(client, "rerun_job", job_id=first["job_id"], resume=True)
        await _finished(client, resumed["job_id"])
        _, logs = await call(client, "fetch_logs", job_id=resumed["job_id"], tail=5)
    checkpoint = state_dir / "jobs" / first["job_id"] / "output" / "checkpoint-12"
    assert logs["lines"] == [str([f"--resume_from_checkpoint={checkpoint}"])]
    assert f"Resumes from {checkpoint}" in text


def test_scheduled_command_lines_parse_back_with_hf_jobs_scheduled() -> None:
    from test_hf_backend import _parse_with_hf_cli

    from trl_jobs_mcp.jobs.backends.hf import hf_command_line
    from trl_jobs_mcp.jobs.core.models import JobSpec

    command = JobSpec(command=["python", "-c", "print(1)"], flavor="t4-small", timeout=600)
    argv = hf_command_line(command, schedule="0 9 * * 1")
    assert argv[:4] == ["hf", "jobs", "scheduled", "run"]
    params = _parse_with_hf_cli(argv)
    assert params["schedule"] == "0 9 * * 1" and list(params["command"]) == ["python", "-c", "print(1)"]
    assert params["flavor"] == "t4-small" and params["timeout"] == "10m"

    script = JobSpec(script="https://x/sft.py", script_args=["--max_steps", "5"])
    params = _parse_with_hf_cli(hf_command_line(script, schedule="@daily"))
    assert params["schedule"] == "@daily" and params["script"] == "https://x/sft.py"
    assert list(params["script_args"]) == ["--max_steps", "5"]


async def test_launch_prices_come_from_the_live_hardware_list_billed_per_minute(fake_hf: FakeHFJobs) -> None:
    fake_hf.hardware[0]["unitCostMicroUSD"] = 1_000_000  # cpu-basic at $1 a minute today (the table says $0.01/h)
    fake_hf.hardware[0]["unitCostUSD"] = 1.0
    async with hf_client(fake_hf) as client:
        _, dry = await call(client, "run_job", command=["true"], timeout="90s", dry_run=True)
        _, trained_dry = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara",
                                  timeout=61, dry_run=True)
    assert dry["price_per_hour"] == 60.0 and dry["cost_ceiling_usd"] == 2.0  # 90 s is billed as 2 minutes
    assert trained_dry["cost_ceiling_usd"] == 2.0
    assert sum(1 for _, path, _ in fake_hf.requests if path == "/api/jobs/hardware") == 1  # kept a while


# --- the person agrees to an upload, not the model (issue 23: "A consent flag lets a call ship credentials") ---


@pytest.mark.parametrize("action", ["decline", "cancel", "unticked"])
async def test_a_declined_upload_uploads_nothing_creates_nothing_and_says_so(fake_hf: FakeHFJobs, tmp_path: Path,
                                                                             action: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", ROWS)
    person = Person("accept", upload=False) if action == "unticked" else Person(action)
    async with hf_client(fake_hf, elicitation=person) as client:
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=str(data),
                                 upload_local_data=True)
    assert len(person.asked) == 1 and str(data) in person.asked[0]
    assert "The user declined the upload" in error and "nothing was uploaded and no job was created" in error
    assert ("cancelled" if action == "cancel" else "declined") in error
    assert fake_hf.repos == {} and fake_hf.launches() == 0


async def test_without_elicitation_only_the_users_upload_roots_stand_for_consent(fake_hf: FakeHFJobs,
                                                                                 tmp_path: Path) -> None:
    """upload_local_data=true alone (what a prompt injection sets) uploads nothing from a client that cannot ask."""
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    allowed.mkdir(), elsewhere.mkdir()
    inside, outside = write_jsonl(allowed / "d.jsonl", ROWS), write_jsonl(elsewhere / "d.jsonl", ROWS)
    launch = dict(model="Qwen/Qwen2-0.5B", upload_local_data=True)
    async with hf_client(fake_hf) as client:  # no elicitation, no roots
        for dry_run in (True, False):  # a dry run refuses what the launch would
            error = await call_error(client, "launch_training", dataset=str(inside), dry_run=dry_run, **launch)
            assert "upload_local_data: the user has to agree" in error and "TRL_JOBS_UPLOAD_ROOTS" in error
            assert "cannot be asked on this connection" in error and "hf upload" in error
    async with hf_client(fake_hf, upload_roots=[str(allowed)]) as client:
        error = await call_error(client, "launch_training", dataset=str(outside), **launch)
        assert "TRL_JOBS_UPLOAD_ROOTS" in error
        assert fake_hf.repos == {} and fake_hf.launches() == 0
        text, out = await call(client, "launch_training", dataset=str(inside), **launch)
    assert out["uploads"][0]["status"] == "uploaded" and "a folder the user allowed" in text
    assert fake_hf.launches() == 1


async def test_the_question_says_an_organisations_members_can_read_its_private_repo(fake_hf: FakeHFJobs,
                                                                                    tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(25):
        write_jsonl(data / f"part-{i:02d}.jsonl", ROWS)
    person = Person("accept")
    async with hf_client(fake_hf, elicitation=person, hf_namespace="acme") as client:
        _, out = await call(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=str(data),
                            upload_local_data=True)
    [question] = person.asked
    [upload] = out["uploads"]
    assert upload["repo_id"].startswith("acme/")
    assert upload["readers"].startswith("the members of the organisation acme")
    assert f"PRIVATE dataset repo {upload['repo_id']}, readable by the members of the organisation acme" in question
    assert "25 files" in question and "part-00.jsonl (" in question and "and 5 more" in question
    assert fake_hf.repos[upload["repo_id"]]["private"] is True


def test_upload_roots_are_existing_folders(tmp_path: Path) -> None:
    from trl_jobs_mcp.server.settings import Settings, SettingsError

    settings = Settings.from_env({"TRL_JOBS_UPLOAD_ROOTS": f"{tmp_path}:{tmp_path / '.'}"})
    assert settings.upload_roots == (tmp_path.resolve(), tmp_path.resolve())
    with pytest.raises(SettingsError, match="TRL_JOBS_UPLOAD_ROOTS.*not an existing folder"):
        Settings.from_env({"TRL_JOBS_UPLOAD_ROOTS": str(tmp_path / "missing")})


async def test_a_connection_that_cannot_carry_the_question_uploads_nothing(fake_hf: FakeHFJobs, tmp_path: Path) -> None:
    """A 2026-07-28 request has no back-channel for elicitation/create: the client's declared elicitation cannot be
    used there, so only the upload roots could stand for the person, and none are set."""
    from mcp import Client

    from trl_jobs_mcp.server.app import build_server
    from trl_jobs_mcp.server.settings import Settings

    data = write_jsonl(tmp_path / "d.jsonl", ROWS)
    person = Person("accept")
    settings = Settings.from_env({}, backend="hf", hf_token=fake_hf.token, hf_endpoint=fake_hf.url)
    async with Client(build_server(settings), mode="2026-07-28", elicitation_callback=person) as client:
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=str(data),
                                 upload_local_data=True)
    assert "cannot be asked on this connection" in error and "TRL_JOBS_UPLOAD_ROOTS" in error
    assert person.asked == [] and fake_hf.repos == {} and fake_hf.launches() == 0
