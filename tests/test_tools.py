"""The shared tool plumbing on its own: redaction, error translation, and the renderings' next-call hints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from trl_jobs_mcp.jobs.core.models import BackendUnavailable, InvalidJobSpec, JobInfo, JobNotFoundError, JobStage
from trl_jobs_mcp.tools import cancel_job, fetch_logs, inspect_job, launch_training, list_jobs
from trl_jobs_mcp.tools.base import SecretBook, human_duration, translate, usd


def test_secret_book_scrubs_text_and_nested_data_including_keys() -> None:
    shared = SecretBook(["hf_firstSecret", None, ""])
    book = shared.for_call(["second-secret-value"])
    assert shared.redact("second-secret-value") == "second-secret-value"  # a call's values stay the call's
    data = {"a": ["x hf_firstSecret y", {"second-secret-value": 3}], "n": 1.5, "b": None}
    assert book.redact_data(data) == {"a": ["x <redacted> y", {"<redacted>": 3}], "n": 1.5, "b": None}
    assert book.redact("hf_firstSecret/second-secret-value") == "<redacted>/<redacted>"


def test_a_secret_that_spells_a_field_name_leaves_the_structured_answer_valid() -> None:
    # Found by the fuzz suite: a run_job secret "model" turned the key "model" into "<redacted>" in every later
    # answer, which then failed its own output schema.
    book = SecretBook(["model", "stage", "lr-sweep"])
    info = JobInfo(id="j1", backend="local", stage=JobStage.RUNNING, labels={"lr-sweep": "model run"})
    answer = inspect_job.Output(job=info, finished=False)
    dumped, keep = book.redact_model(answer)
    assert inspect_job.Output.model_validate(dumped).job.stage is JobStage.RUNNING
    assert {"j1", "RUNNING"} <= keep
    assert dumped["job"]["labels"] == {"<redacted>": "<redacted> run"}  # the caller's keys are data: scrubbed


def _validation_error(tool: object, **arguments: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        tool.input.model_validate(arguments)  # type: ignore[attr-defined]
    return caught.value


def test_validation_errors_name_each_field_and_never_echo_the_value() -> None:
    tool = list_jobs.TOOL
    error = translate(tool, _validation_error(tool, limit=500, stage="SOMETIME", cursr="hf_secretish"), SecretBook())
    message = str(error)
    assert isinstance(error, ToolError)
    assert "- limit: Input should be less than or equal to 200" in message
    assert "- stage: Input should be 'SCHEDULING'" in message and "str-enum" not in message
    assert "- cursr: not an argument of list_jobs; did you mean cursor?" in message
    assert "SOMETIME" not in message and "hf_secretish" not in message


def test_engine_errors_become_messages_a_model_can_act_on() -> None:
    book = SecretBook(["tok_abcdef"])
    tool = inspect_job.TOOL
    assert "list_jobs" in str(translate(tool, JobNotFoundError("abc", "gone"), book))
    spec_error = str(translate(tool, InvalidJobSpec("use cpu-basic instead", field="flavor"), book))
    assert spec_error == "flavor: use cpu-basic instead"
    unavailable = str(translate(tool, BackendUnavailable("401: token tok_abcdef is invalid; run hf auth login"), book))
    assert unavailable == "401: token <redacted> is invalid; run hf auth login"


def test_an_unexpected_error_is_logged_and_replaced(caplog: pytest.LogCaptureFixture) -> None:
    message = str(translate(fetch_logs.TOOL, KeyError("/secret/path"), SecretBook()))
    assert "/secret/path" not in message and "fetch_logs failed inside the server (KeyError)" in message
    assert "list_jobs" in message
    assert any(record.exc_info and "/secret/path" in str(record.exc_info[1]) for record in caplog.records)


def test_durations_and_money_read_naturally() -> None:
    assert [human_duration(s) for s in (None, 0, 8.4, 72, 3600, 7300, 90000)] == [
        "?", "0s", "8s", "1m12s", "1h", "2h1m", "1d1h"]
    assert [usd(x) for x in (0, 0.0017, 0.06, 1234.5)] == ["$0.00", "$0.0017", "$0.06", "$1,234.50"]


def _job(stage: JobStage, **fields: object) -> JobInfo:
    now = datetime.now(UTC)
    return JobInfo(id="3f2a", backend="local", stage=stage, created_at=now - timedelta(seconds=90),
                   started_at=now - timedelta(seconds=80), flavor="cpu-basic", labels={"trainer": "sft"},
                   **fields)  # type: ignore[arg-type]


def test_fetch_logs_rendering_ends_with_the_next_call() -> None:
    running = fetch_logs.Output(job_id="3f2a", lines=["a", "b"], next_since=48213, finished=False)
    assert fetch_logs.render(running).endswith("Call fetch_logs with job_id=3f2a since=48213 for new lines.")
    more = running.model_copy(update={"truncated": True})
    assert "more were written than returned" in fetch_logs.render(more)
    done = running.model_copy(update={"finished": True})
    assert fetch_logs.render(done).endswith("Call inspect_job with job_id=3f2a for its final stage and results.")


@pytest.mark.parametrize(("stage", "expected"), [
    (JobStage.RUNNING, "Call wait_for_job with job_id=3f2a"),
    (JobStage.SCHEDULING, "Call inspect_job with job_id=3f2a"),
    (JobStage.ERROR, "Call fetch_logs with job_id=3f2a tail=50 to see why it failed"),
    (JobStage.CANCELED, "was CANCELED"),
])
def test_inspect_job_rendering_depends_on_the_stage(stage: JobStage, expected: str) -> None:
    job = _job(stage, message="boom" if stage == JobStage.ERROR else None)
    text = inspect_job.render(inspect_job.Output(job=job, finished=job.finished, runtime_seconds=80))
    assert expected in text and "(sft)" in text


def test_completed_job_rendering_points_to_its_results() -> None:
    job = _job(JobStage.COMPLETED, output_dir="/data/jobs/3f2a/output")
    text = inspect_job.render(inspect_job.Output(job=job, finished=True, runtime_seconds=43))
    assert "COMPLETED on cpu-basic in 43s" in text and "/data/jobs/3f2a/output" in text


def test_list_jobs_rendering_offers_the_next_page_and_the_active_job() -> None:
    out = list_jobs.Output(jobs=[_job(JobStage.COMPLETED), _job(JobStage.RUNNING).model_copy(update={"id": "77"})],
                           next_cursor="c2", running=1)
    text = list_jobs.render(out)
    assert text.startswith("1 job(s) running now. 2 job(s) listed")
    assert "Call wait_for_job with job_id=77" in text and "cancel_job with job_id=77" in text
    assert "Call list_jobs with cursor=c2" in text
    idle = list_jobs.Output(jobs=[_job(JobStage.COMPLETED)])
    assert list_jobs.render(idle).startswith("No job is running now. 1 job(s) listed")
    assert "created 1m30s ago" in text


def test_cancel_rendering_says_when_nothing_changed() -> None:
    text = cancel_job.render(cancel_job.Output(job_id="3f2a", stage=JobStage.COMPLETED, already_finished=True))
    assert "had already finished (COMPLETED); nothing was changed" in text


def test_launch_rendering_of_a_dry_run_shows_names_not_values() -> None:
    out = launch_training.Output(
        dry_run=True, backend="hf", trainer="sft", model="Qwen/Qwen2.5-0.5B", dataset="trl-lib/Capybara",
        flavor="a10g-large", price_per_hour=1.5, timeout="2h", timeout_seconds=7200, cost_ceiling_usd=3.0,
        command=["uv", "run", "sft.py", "--max_steps=10"], env_names=["PYTHONUNBUFFERED"],
        secret_names=["HF_TOKEN"], hf_command="hf jobs uv run --flavor a10g-large sft.py")
    text = launch_training.render(out)
    assert "a10g-large ($1.50/h; at most $3.00 for the 2h timeout)" in text
    assert "Secrets (values never shown): HF_TOKEN." in text and "hf jobs uv run" in text
    assert text.endswith("dry_run=false to start it.")
