"""The Hugging Face backend: the real huggingface_hub client against the fake Jobs API on 127.0.0.1."""

from __future__ import annotations

import shlex

import anyio
import pytest
from fake_hf_jobs import FakeHFJobs
from hf_fixtures import TEST_LOGS_DEADLINE, make_hf_backend
from huggingface_hub import constants
from huggingface_hub._jobs_api import DEFAULT_UV_IMAGE
from polling import eventually

from trl_jobs_mcp.jobs.backends.base import Backend
from trl_jobs_mcp.jobs.backends.hf import LAUNCH_LABEL, HFBackend, hf_command_line
from trl_jobs_mcp.jobs.core.flavors import CATALOG
from trl_jobs_mcp.jobs.core.models import BackendUnavailable, InvalidJobSpec, JobNotFoundError, JobSpec, JobStage

pytestmark = pytest.mark.anyio

SFT_URL = "https://raw.githubusercontent.com/huggingface/trl/v1.16.0/trl/scripts/sft.py"
WANDB = "wandb-secret-value-42"


def sft_spec(**changes: object) -> JobSpec:
    values: dict[str, object] = dict(
        script=SFT_URL,
        script_args=["--model_name_or_path", "Qwen/Qwen2-0.5B", "--dataset_name", "trl-lib/Capybara",
                     "--report_to", "wandb"],
        dependencies=["trl==1.16.0", "peft"],
        python="3.12",
        env={"PYTHONUNBUFFERED": "1"},
        secrets={"HF_TOKEN": "$HF_TOKEN", "WANDB_API_KEY": WANDB},
        flavor="a10g-large",
        timeout="2h",
        labels={"trainer": "sft", "model": "Qwen/Qwen2-0.5B"},
    )
    values.update(changes)
    return JobSpec(**values)


# --- launching ---


async def test_backend_satisfies_the_protocol(hf_backend: HFBackend) -> None:
    assert isinstance(hf_backend, Backend)
    assert hf_backend.name == "hf"


async def test_launch_uv_script_sends_what_hf_jobs_uv_run_sends(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(sft_spec())

    [posted] = fake_hf.posted_specs
    assert posted["dockerImage"] == DEFAULT_UV_IMAGE
    assert posted["command"] == ["uv", "run", "--with", "trl==1.16.0", "--with", "peft", "--python", "3.12",
                                 SFT_URL, "--model_name_or_path", "Qwen/Qwen2-0.5B", "--dataset_name",
                                 "trl-lib/Capybara", "--report_to", "wandb"]
    assert posted["environment"] == {"PYTHONUNBUFFERED": "1"}
    # "$HF_TOKEN" is the caller's own token; other secrets go as given, and only as secrets.
    assert posted["secrets"] == {"HF_TOKEN": fake_hf.token, "WANDB_API_KEY": WANDB}
    assert posted["flavor"] == "a10g-large"
    assert posted["timeoutSeconds"] == 7200
    # The Hub refuses "/" in label values: the backend writes them as the Hub accepts them.
    assert posted["labels"]["model"] == "Qwen-Qwen2-0-5B"
    assert posted["labels"]["trainer"] == "sft"
    assert len(posted["labels"][LAUNCH_LABEL]) == 32

    assert info.backend == "hf"
    assert info.id in fake_hf.jobs
    assert info.stage is JobStage.SCHEDULING
    assert info.flavor == "a10g-large"
    assert info.timeout == 7200
    assert info.url == f"{fake_hf.url}/jobs/alice/{info.id}"
    assert LAUNCH_LABEL not in info.labels
    assert info.labels["trainer"] == "sft"
    assert info.command[:2] == ["uv", "run"]
    dumped = info.model_dump_json()
    assert WANDB not in dumped and fake_hf.token not in dumped


async def test_launch_command_in_an_image(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    plain = await hf_backend.submit(JobSpec(command=["python", "-c", "print('hi')"]))
    custom = await hf_backend.submit(JobSpec(command=["nvidia-smi"], flavor="t4-small", timeout=90,
                                             image="pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel"))
    first, second = fake_hf.posted_specs
    assert first["dockerImage"] == "python:3.12"
    assert first["command"] == ["python", "-c", "print('hi')"]
    assert first["flavor"] == "cpu-basic" and first["timeoutSeconds"] == 1800
    assert second["dockerImage"] == "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel"
    assert second["flavor"] == "t4-small" and second["timeoutSeconds"] == 90
    assert plain.command == ["python", "-c", "print('hi')"]
    assert custom.flavor == "t4-small"


async def test_token_placeholder_in_env_becomes_a_secret(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    await hf_backend.submit(JobSpec(command=["env"], env={"HF_TOKEN": "$HF_TOKEN", "MODE": "fast"}))
    [posted] = fake_hf.posted_specs
    assert posted["environment"] == {"MODE": "fast"}
    assert posted["secrets"] == {"HF_TOKEN": fake_hf.token}


async def test_secret_values_are_scrubbed_from_command_logs_and_messages(fake_hf: FakeHFJobs,
                                                                         hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["login", "--key-from-env"], secrets={"WANDB_API_KEY": WANDB}))
    assert WANDB not in info.model_dump_json()  # a value in the command itself is refused (test_security)
    fake_hf.append_log(info.id, f"using key {WANDB}", f"token {fake_hf.token}")
    fake_hf.finish(info.id, "ERROR", f"crashed holding {WANDB}")

    chunk = await hf_backend.logs(info.id)
    assert chunk.lines == ["using key <redacted>", "token <redacted>"]
    inspected = await hf_backend.inspect(info.id)
    assert inspected.stage is JobStage.ERROR and inspected.message == "crashed holding <redacted>"

    fake_hf.fail_next("GET", r"/api/jobs/alice/", 400, error=f"bad request near {WANDB}")
    with pytest.raises(InvalidJobSpec) as caught:
        await hf_backend.inspect(info.id)
    assert WANDB not in str(caught.value) and "<redacted>" in str(caught.value)


async def test_unknown_flavor_and_bad_label_key_are_refused_before_anything_is_sent(
        fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        await hf_backend.submit(JobSpec(command=["true"], flavor="a10g-larg"))
    assert caught.value.field == "flavor" and "a10g-large" in str(caught.value)
    with pytest.raises(InvalidJobSpec) as caught:
        await hf_backend.submit(JobSpec(command=["true"], labels={"team.name": "x"}))
    assert caught.value.field == "labels"
    assert fake_hf.posted_specs == []
    assert hf_backend.check_flavor("h200").runnable is True


async def test_missing_local_script_is_bad_input(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        await hf_backend.submit(JobSpec(script="/nonexistent/train.py"))
    assert caught.value.field == "script"
    assert fake_hf.posted_specs == []


# --- a launch whose answer is lost is never submitted twice ---


async def test_dropped_connection_after_creation_returns_the_created_job(fake_hf: FakeHFJobs,
                                                                         hf_backend: HFBackend) -> None:
    fake_hf.drop_next_launch()
    info = await hf_backend.submit(sft_spec())
    assert fake_hf.launches() == 1
    assert list(fake_hf.jobs) == [info.id]
    assert info.stage is JobStage.SCHEDULING and info.timeout == 7200


async def test_5xx_before_creation_is_retried_after_looking_up_the_label(fake_hf: FakeHFJobs,
                                                                         hf_backend: HFBackend) -> None:
    fake_hf.fail_next("POST", r"^/api/jobs/alice$", 503)
    info = await hf_backend.submit(JobSpec(command=["true"]))
    assert fake_hf.launches() == 2
    assert list(fake_hf.jobs) == [info.id]
    lookups = [q for method, path, q in fake_hf.requests if method == "GET" and path == "/api/jobs/alice"]
    assert lookups and LAUNCH_LABEL in lookups[0]


async def test_launch_gives_up_without_a_duplicate_when_the_lookup_fails_too(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, retry_delays=(0.01,))
    fake_hf.drop_next_launch()
    # The look-up's own client retries 5 times (huggingface_hub's http_backoff): 400 is not retried.
    fake_hf.fail_next("GET", r"^/api/jobs/alice$", 400, error="temporarily broken")
    with pytest.raises(BackendUnavailable) as caught:
        await backend.submit(JobSpec(command=["true"]))
    assert "may or may not" in str(caught.value) and LAUNCH_LABEL in str(caught.value)
    assert fake_hf.launches() == 1


async def test_launch_that_keeps_failing_says_nothing_was_created(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, retry_delays=(0.01,))
    fake_hf.fail_next("POST", r"^/api/jobs/alice$", 502, count=5)
    with pytest.raises(BackendUnavailable) as caught:
        await backend.submit(JobSpec(command=["true"]))
    assert "2 tries" in str(caught.value) and "no job was created" in str(caught.value)
    assert fake_hf.jobs == {}


# --- listing, inspecting ---


async def test_list_pages_newest_first_through_link_pagination(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    ids = [(await hf_backend.submit(JobSpec(command=["echo", str(i)], labels={"i": str(i)}))).id for i in range(7)]
    newest_first = ids[::-1]
    seen, cursor = [], None
    while True:
        page = await hf_backend.list(limit=2, cursor=cursor)
        seen += [job.id for job in page.jobs]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == newest_first
    # The fake's pages hold 3 jobs: one list of 5 crosses a page boundary through the Link header.
    page = await hf_backend.list(limit=5)
    assert [job.id for job in page.jobs] == newest_first[:5] and page.next_cursor == newest_first[4]
    assert any("cursor=" in query for _, _, query in fake_hf.requests)


async def test_list_filters_by_stage_and_label(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    sft = await hf_backend.submit(sft_spec())
    other = await hf_backend.submit(JobSpec(command=["true"], labels={"trainer": "dpo"}))
    fake_hf.set_stage(other.id, "RUNNING")
    running = await hf_backend.list(stages={JobStage.RUNNING})
    assert [job.id for job in running.jobs] == [other.id]
    by_model = await hf_backend.list(labels={"model": "Qwen/Qwen2-0.5B"})
    assert [job.id for job in by_model.jobs] == [sft.id]
    none = await hf_backend.list(stages={JobStage.COMPLETED, JobStage.ERROR})
    assert none.jobs == [] and none.next_cursor is None


async def test_list_with_a_vanished_cursor_says_so(hf_backend: HFBackend) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        await hf_backend.list(cursor="0123456789abcdef01234567")
    assert caught.value.field == "cursor"


async def test_inspect_follows_the_stages(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["true"]))
    fake_hf.set_stage(info.id, "RUNNING")
    running = await hf_backend.inspect(info.id)
    assert running.stage is JobStage.RUNNING and running.started_at is not None and not running.finished
    fake_hf.finish(info.id, "COMPLETED")
    done = await hf_backend.inspect(info.id)
    assert done.stage is JobStage.COMPLETED and done.finished and done.finished_at is not None


async def test_jobs_of_another_namespace_are_named_namespace_slash_id(fake_hf: FakeHFJobs) -> None:
    org_job = fake_hf.add_job(namespace="acme", stage="RUNNING")
    backend = make_hf_backend(fake_hf)
    info = await backend.inspect(f"acme/{org_job}")
    assert info.id == f"acme/{org_job}" and info.stage is JobStage.RUNNING
    with pytest.raises(JobNotFoundError) as caught:
        await backend.inspect(org_job)  # not in alice's namespace
    assert "'alice'" in str(caught.value) and "list_jobs" in str(caught.value)
    org_backend = make_hf_backend(fake_hf, namespace="acme")
    assert (await org_backend.inspect(org_job)).id == org_job


async def test_unknown_job_is_not_found_in_the_namespace(hf_backend: HFBackend) -> None:
    for call in (hf_backend.inspect, hf_backend.logs, hf_backend.cancel):
        with pytest.raises(JobNotFoundError) as caught:
            await call("0123456789abcdef01234567")
        assert caught.value.job_id == "0123456789abcdef01234567"
        assert "namespace 'alice'" in str(caught.value)
    with pytest.raises(JobNotFoundError, match="look like"):  # not the Hub's id shape: no request is made
        await hf_backend.inspect("a/b/c")


# --- logs ---


async def test_logs_of_a_finished_job_tail_and_since(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["train"]))
    fake_hf.set_stage(info.id, "RUNNING")
    fake_hf.append_log(info.id, *[f"step {i}" for i in range(10)])
    fake_hf.finish(info.id)

    whole = await hf_backend.logs(info.id)
    # The Hub's "===== Job started" event is not part of the job's output.
    assert whole.lines == [f"step {i}" for i in range(10)]
    assert whole.next_since == 10 and whole.finished and not whole.truncated

    tail = await hf_backend.logs(info.id, tail=3)
    assert tail.lines == ["step 7", "step 8", "step 9"] and tail.next_since == 10 and tail.truncated
    assert tail.finished is False  # older lines were left out

    after = await hf_backend.logs(info.id, since=8)
    assert after.lines == ["step 8", "step 9"] and after.next_since == 10 and after.finished
    nothing = await hf_backend.logs(info.id, since=10)
    assert nothing.lines == [] and nothing.next_since == 10 and nothing.finished


async def test_logs_page_forward_when_longer_than_one_answer(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, max_log_lines=4)
    info = await backend.submit(JobSpec(command=["train"]))
    fake_hf.append_log(info.id, *[f"line {i}" for i in range(10)])
    fake_hf.finish(info.id)
    lines, since, finished = [], 0, False
    while not finished:
        chunk = await backend.logs(info.id, since=since)
        lines += chunk.lines
        since, finished = chunk.next_since, chunk.finished
    assert lines == [f"line {i}" for i in range(10)]


async def test_logs_of_a_running_job_return_within_the_bound_and_say_not_finished(
        fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["train"]))
    fake_hf.set_stage(info.id, "RUNNING")
    fake_hf.append_log(info.id, "loading model", "step 1")

    with anyio.fail_after(TEST_LOGS_DEADLINE + 3):  # the stream stays open: only our bound ends the call
        first = await hf_backend.logs(info.id)
    assert first.lines == ["loading model", "step 1"]
    assert first.next_since == 2 and first.finished is False

    # The reader left behind leaves at its next event instead of following the stream to the job's end.
    fake_hf.append_log(info.id, "step 2", "step 3")
    await eventually(lambda: fake_hf.open_streams == 0, timeout=10, what="the first log stream to close")

    second = await hf_backend.logs(info.id, since=first.next_since)
    assert second.lines == ["step 2", "step 3"] and second.next_since == 4 and not second.finished
    fake_hf.finish(info.id)
    last = await hf_backend.logs(info.id, since=second.next_since)
    assert last.lines == [] and last.finished


async def test_logs_reader_on_a_quiet_stream_ends_with_the_client_read_timeout(
        fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["train"]))
    fake_hf.set_stage(info.id, "RUNNING")
    chunk = await hf_backend.logs(info.id)
    assert chunk.lines == [] and chunk.next_since == 0 and not chunk.finished
    await eventually(lambda: fake_hf.open_streams == 1, timeout=10, what="the log stream to be open")
    # No event will come; the client's 5 s read timeout (the Hub keeps alive every 30 s) closes it.
    await eventually(lambda: fake_hf.open_streams == 0, timeout=15, what="the quiet log stream to close")


async def test_logs_retry_a_5xx_then_read(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["true"]))
    fake_hf.append_log(info.id, "hello")
    fake_hf.finish(info.id)
    fake_hf.fail_next("GET", r"/logs$", 503)
    chunk = await hf_backend.logs(info.id)
    assert chunk.lines == ["hello"] and chunk.finished


# --- cancel ---


async def test_cancel_a_running_job_then_again(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["sleep", "1000"]))
    fake_hf.set_stage(info.id, "RUNNING")
    canceled = await hf_backend.cancel(info.id)
    assert canceled.stage is JobStage.CANCELED and canceled.finished
    again = await hf_backend.cancel(info.id)
    assert again.stage is JobStage.CANCELED
    cancels = [path for method, path, _ in fake_hf.requests if method == "POST" and path.endswith("/cancel")]
    assert len(cancels) == 1  # a finished job is left alone


async def test_cancel_a_completed_job_changes_nothing(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["true"]))
    fake_hf.finish(info.id, "COMPLETED")
    assert (await hf_backend.cancel(info.id)).stage is JobStage.COMPLETED
    assert not any(path.endswith("/cancel") for _, path, _ in fake_hf.requests)


# --- hardware ---


async def test_hardware_live_prices(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    [a10g] = [item for item in fake_hf.hardware if item["name"] == "a10g-large"]
    a10g["unitCostMicroUSD"], a10g["unitCostUSD"] = 30000, 0.03  # a10g-large at $1.80 an hour today
    flavors = await hf_backend.hardware()
    by_name = {flavor.name: flavor for flavor in flavors}
    assert [flavor.name for flavor in flavors] == [item["name"] for item in fake_hf.hardware]
    assert by_name["a10g-large"].price_per_hour == pytest.approx(1.8)
    assert by_name["a10g-large"].vram_gb == 24 and by_name["a10g-large"].gpu == "A10G"
    assert by_name["cpu-basic"].gpu_count == 0
    assert all(flavor.runnable is True for flavor in flavors)


async def test_a_flavor_missing_from_the_live_list_is_refused(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    assert hf_backend.check_flavor("l4x1").runnable is True  # before the live list is read: the catalog's
    flavors = await hf_backend.hardware()
    assert "l4x1" not in {f.name for f in flavors}
    with pytest.raises(InvalidJobSpec) as refused:
        hf_backend.check_flavor("l4x1")
    assert refused.value.field == "flavor" and "not in Hugging Face Jobs' hardware list" in str(refused.value)
    assert "cpu-basic, cpu-upgrade, t4-small" in str(refused.value)
    with pytest.raises(InvalidJobSpec):
        await hf_backend.submit(JobSpec(command=["true"], flavor="l4x1"))
    assert fake_hf.jobs == {}
    assert hf_backend.check_flavor("a10g-large").price_per_hour == pytest.approx(1.5)


async def test_hardware_falls_back_to_the_catalog(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    fake_hf.fail_next("GET", r"^/api/jobs/hardware$", 503, count=10)
    flavors = await hf_backend.hardware()
    assert [flavor.name for flavor in flavors] == list(CATALOG)
    assert all(flavor.runnable is True for flavor in flavors)


# --- errors a user can act on ---


async def test_bad_token_says_how_to_set_one(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, token="hf_wrong_token_000000")
    for call in (backend.list(), backend.inspect("abc"), backend.submit(JobSpec(command=["true"]))):
        with pytest.raises(BackendUnavailable) as caught:
            await call
        assert "HF_TOKEN" in str(caught.value) and "hf auth login" in str(caught.value)
        assert "hf_wrong_token_000000" not in str(caught.value)


async def test_no_token_anywhere(fake_hf: FakeHFJobs, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    backend = HFBackend(endpoint=fake_hf.url)
    with pytest.raises(BackendUnavailable) as caught:
        await backend.list()
    assert "hf auth login" in str(caught.value)
    assert fake_hf.requests == []


async def test_token_from_hf_token_variable(fake_hf: FakeHFJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", fake_hf.token)
    backend = HFBackend(endpoint=fake_hf.url)
    assert (await backend.list()).jobs == []


@pytest.mark.parametrize("status", [402, 403])
async def test_no_plan_says_what_the_api_said_and_what_is_needed(fake_hf: FakeHFJobs, hf_backend: HFBackend,
                                                                 status: int) -> None:
    fake_hf.refuse_jobs(status, "Subscribe to PRO to use Jobs")
    with pytest.raises(BackendUnavailable) as caught:
        await hf_backend.submit(JobSpec(command=["true"]))
    message = str(caught.value)
    assert "Subscribe to PRO to use Jobs" in message and "Pro, Team or Enterprise" in message
    assert str(status) in message
    assert fake_hf.jobs == {} and fake_hf.launches() == 1  # refused: not retried


async def test_namespace_without_rights(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, namespace="someone-else")
    with pytest.raises(BackendUnavailable) as caught:
        await backend.submit(JobSpec(command=["true"]))
    assert "'someone-else'" in str(caught.value)


async def test_reads_retry_429_and_5xx_then_succeed(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["true"]))
    fake_hf.fail_next("GET", rf"/{info.id}$", 429)
    fake_hf.fail_next("GET", rf"/{info.id}$", 502)
    assert (await hf_backend.inspect(info.id)).id == info.id
    assert sum(1 for m, p, _ in fake_hf.requests if m == "GET" and p.endswith(info.id)) == 3


async def test_reads_give_up_with_a_clear_error(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    info = await hf_backend.submit(JobSpec(command=["true"]))
    fake_hf.fail_next("GET", rf"/{info.id}$", 503, count=10, error="Service Unavailable")
    with pytest.raises(BackendUnavailable) as caught:
        await hf_backend.inspect(info.id)
    assert "503" in str(caught.value) and "3 tries" in str(caught.value)


async def test_list_retries_5xx_in_the_client(fake_hf: FakeHFJobs, hf_backend: HFBackend) -> None:
    await hf_backend.submit(JobSpec(command=["true"]))
    fake_hf.fail_next("GET", r"^/api/jobs/alice$", 500)  # huggingface_hub's http_backoff waits 1 s and retries
    assert len((await hf_backend.list()).jobs) == 1


async def test_unreachable_hub(fake_hf: FakeHFJobs) -> None:
    fake_hf.stop()
    backend = make_hf_backend(fake_hf, namespace="alice")
    with pytest.raises(BackendUnavailable) as caught:
        await backend.inspect("0123456789abcdef01234567")
    assert "Could not reach Hugging Face" in str(caught.value)


# --- the command line a user could paste ---


def _parse_with_hf_cli(argv: list[str]) -> dict:
    """Parse a `hf jobs ...` line with the real CLI's own click parser, without running anything."""
    from huggingface_hub.cli.jobs import jobs_cli

    assert argv[:2] == ["hf", "jobs"]
    group, rest = jobs_cli, argv[2:]
    while rest and hasattr(group, "get_command") and group.get_command(None, rest[0]) is not None:
        group, rest = group.get_command(None, rest[0]), rest[1:]
        if not hasattr(group, "commands"):
            break
    return group.make_context("hf", rest).params


def test_uv_command_line_parses_back_with_hf_jobs_uv_run() -> None:
    spec = sft_spec(env={"PYTHONUNBUFFERED": "1", "HF_HUB_TOKEN": "$HF_TOKEN"},
                    script_args=["--timeout", "5", "-e", "x", "--key-from-env", "WANDB_API_KEY"])
    argv = hf_command_line(spec, namespace="acme")
    assert argv[:4] == ["hf", "jobs", "uv", "run"]
    line = shlex.join(argv)
    assert WANDB not in line and "$HF_TOKEN" not in line

    params = _parse_with_hf_cli(argv)
    assert params["script"] == SFT_URL
    # The script's own --timeout and -e stay the script's, thanks to "--".
    assert list(params["script_args"]) == ["--timeout", "5", "-e", "x", "--key-from-env", "WANDB_API_KEY"]
    assert params["flavor"] == "a10g-large" and params["timeout"] == "2h" and params["namespace"] == "acme"
    assert list(params["env"]) == ["PYTHONUNBUFFERED=1"]
    assert sorted(params["secrets"]) == ["HF_HUB_TOKEN", "HF_TOKEN", "WANDB_API_KEY"]  # names only
    assert sorted(params["label"]) == ["model=Qwen-Qwen2-0-5B", "trainer=sft"]
    assert list(params["with_"]) == ["trl==1.16.0", "peft"] and params["python"] == "3.12"


def test_command_line_for_a_command_parses_back_with_hf_jobs_run() -> None:
    spec = JobSpec(command=["python", "-c", "print(1)"], image="python:3.11", flavor="t4-small", timeout=90)
    argv = hf_command_line(spec)
    params = _parse_with_hf_cli(argv)
    assert params["image"] == "python:3.11" and list(params["command"]) == ["python", "-c", "print(1)"]
    assert params["flavor"] == "t4-small" and params["timeout"] == "90s"


# --- a Hub that does not answer ---


async def test_a_read_that_gets_no_answer_is_given_up_on_within_its_bound(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, namespace="alice", request_timeout=0.3, retry_delays=(0.01,))
    job_id = fake_hf.add_job()
    fake_hf.stall_next("GET", rf"/{job_id}$", 30, count=2)
    with anyio.fail_after(10):
        with pytest.raises(BackendUnavailable) as caught:
            await backend.inspect(job_id)
    assert "did not answer within 0.3 s" in str(caught.value) and "2 tries" in str(caught.value)


async def test_a_launch_that_gets_no_answer_is_looked_up_not_repeated(fake_hf: FakeHFJobs) -> None:
    backend = make_hf_backend(fake_hf, namespace="alice", request_timeout=0.3)
    fake_hf.stall_next("POST", r"^/api/jobs/alice$", 1.0)
    with anyio.fail_after(10):
        with pytest.raises(BackendUnavailable) as caught:
            await backend.submit(JobSpec(command=["true"]))
    assert "may still appear" in str(caught.value) and LAUNCH_LABEL in str(caught.value)
    assert fake_hf.launches() == 1
    # The slow launch lands after all; its label finds it, and nothing ran twice.
    await eventually(lambda: len(fake_hf.jobs) == 1, timeout=10, what="the stalled launch to land")
    label = str(caught.value).split(f"'{LAUNCH_LABEL}': '")[1].split("'")[0]
    page = await backend.list(labels={LAUNCH_LABEL: label})
    assert [job.id for job in page.jobs] == list(fake_hf.jobs)
