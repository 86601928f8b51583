"""Issue 21, Hugging Face: the account the server acts as, pushes that are private unless asked, reruns as they
were, upload failures told apart, and what listed jobs cost. The real MCP client in-process, the real
huggingface_hub client, the fake Jobs/Hub API (whoami-v2 with organisation roles, repo creation, 404 codes)."""

from __future__ import annotations

import json

import pytest
from fake_hf_jobs import FakeHFJobs
from mcp_client import Person, call, call_error, hf_client

pytestmark = pytest.mark.anyio

TRAIN = dict(model="Qwen/Qwen2-0.5B", dataset="trl-lib/Capybara", max_steps=10)


@pytest.fixture
def fake_with_read_org(fake_hf: FakeHFJobs) -> FakeHFJobs:
    fake_hf.read_orgs = ("readers",)
    return fake_hf


async def test_list_hardware_names_the_account_and_where_it_can_push(fake_with_read_org: FakeHFJobs) -> None:
    async with hf_client(fake_with_read_org) as client:
        text, out = await call(client, "list_hardware")
    assert out["account"] == "alice" and out["can_push_to"] == ["alice", "acme"]  # not the read-only org
    assert "alice/<name> or acme/<name>" in text and "readers" not in text


async def test_a_push_to_a_namespace_the_token_cannot_write_is_refused_before_a_billed_run(
        fake_with_read_org: FakeHFJobs) -> None:
    async with hf_client(fake_with_read_org) as client:
        for namespace in ("user", "readers"):
            for dry_run in (True, False):
                error = await call_error(client, "launch_training", **TRAIN, push_to_hub=True,
                                         hub_model_id=f"{namespace}/tuned", dry_run=dry_run)
                assert "hub_model_id" in error and "alice/tuned" in error and "acts as alice" in error
        assert fake_with_read_org.launches() == 0
        text, out = await call(client, "launch_training", **TRAIN, push_to_hub=True, hub_model_id="acme/tuned",
                               dry_run=True)
    assert "pushed as alice to https://huggingface.co/acme/tuned" in text


async def test_a_push_is_private_unless_the_user_asks_public_and_every_answer_says_which(
        fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        text, out = await call(client, "launch_training", **TRAIN, push_to_hub=True, hub_model_id="alice/tuned")
        assert "--hub_private_repo=true" in out["command"] and "private repo" in text
        fake_hf.finish(out["job_id"])
        inspected, _ = await call(client, "inspect_job", job_id=out["job_id"])
        assert "alice/tuned (private repo)" in inspected
        text, public = await call(client, "launch_training", **TRAIN, push_to_hub=True, hub_model_id="alice/tuned",
                                  hub_private_repo=False, dry_run=True)
    assert "--hub_private_repo=False" in " ".join(public["command"]) or "--hub_private_repo=false" in public["command"]
    assert "public repo" in text and "the user asked for public" in text


async def test_rerun_as_it_was_keeps_timeout_secrets_labels_and_stays_small(fake_hf: FakeHFJobs) -> None:
    async with hf_client(fake_hf) as client:
        launch_text, first = await call(client, "launch_training", **TRAIN, push_to_hub=True,
                                        hub_model_id="alice/tuned", timeout="3h", labels={"team": "nlp"},
                                        idle_timeout="20m")
        text, dry = await call(client, "rerun_job", job_id=first["job_id"], dry_run=True)
        assert dry["as_it_was"] is True and dry["timeout"] == "3h" and dry["secret_names"] == ["HF_TOKEN"]
        assert dry["labels"]["team"] == "nlp" and "HF_TOKEN" in text and "3h" in text
        # The dry run's answer is the size of a launch's, not the idle guard's source (it was 15 KB).
        assert len(text) + len(json.dumps(dry)) < 1.5 * (len(launch_text) + len(json.dumps(first)))
        assert len(text) + len(json.dumps(dry)) < 6000

        _, changed = await call(client, "rerun_job", job_id=first["job_id"], flavor="t4-small")
        posted = fake_hf.posted_specs[-1]
        assert posted["timeoutSeconds"] == 3 * 3600 and posted["secrets"]["HF_TOKEN"] == fake_hf.token
        assert posted["labels"]["team"] == "nlp" and posted["flavor"] == "t4-small"
        assert posted["command"][:2] == ["sh", "-c"]  # the idle guard again, for the new flavor
        assert "--hub_model_id=alice/tuned" in posted["command"]


async def test_a_rerun_whose_timeout_cannot_be_known_is_not_called_unchanged(fake_hf: FakeHFJobs) -> None:
    job_id = fake_hf.add_job(command=["python", "-c", "print(1)"])  # launched elsewhere: no timeout label
    async with hf_client(fake_hf) as client:
        text, dry = await call(client, "rerun_job", job_id=job_id, dry_run=True)
    assert dry["as_it_was"] is False and "Not as it was" in text and "timeout" in text
    assert "as it was," not in text.splitlines()[0]


# --- upload failures, told apart ---

def local_data(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "q"},
                                             {"role": "assistant", "content": "a"}]}) + "\n")
    return str(path)


async def test_an_upload_to_a_namespace_that_does_not_exist_says_the_user_must_fix_it(fake_hf: FakeHFJobs,
                                                                                      tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake_hf.orgs = ("acme", "ghost")  # jobs may run there, but the Hub has no such namespace for repos
    fake_hf.read_orgs = ()
    async with hf_client(fake_hf, hf_namespace="ghost", elicitation=Person("accept")) as client:
        fake_hf.orgs = ("acme",)
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=local_data(tmp_path),
                                 upload_local_data=True)
    assert "no namespace 'ghost'" in error and "Nothing was created" in error and "The user must" in error
    assert fake_hf.repos == {} and fake_hf.launches() == 0


async def test_a_repo_missing_after_its_creation_says_it_was_created(fake_hf: FakeHFJobs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake_hf.fail_next("POST", r"/api/datasets/.+/(preupload|commit)/", 404, error="Repository not found",
                      headers={"X-Error-Code": "RepoNotFound"})
    async with hf_client(fake_hf, elicitation=Person("accept")) as client:
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=local_data(tmp_path),
                                 upload_local_data=True)
    [repo] = fake_hf.repos
    assert f"The repo {repo} was created" in error and "no longer found it" in error and "namespace" not in error
    assert fake_hf.launches() == 0


async def test_an_unreachable_hub_during_the_upload_says_so_and_that_nothing_was_created(
        fake_hf: FakeHFJobs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = local_data(tmp_path)
    fake_hf.unreachable_next("GET", r"^/api/datasets/alice/trl-jobs-dataset-", count=10)
    async with hf_client(fake_hf, elicitation=Person("accept")) as client:
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=data,
                                 upload_local_data=True)
    assert "Could not reach Hugging Face" in error and "Nothing was created" in error and "namespace" not in error


# --- spend ---

async def test_list_jobs_totals_the_listed_jobs_and_todays_as_billed(fake_hf: FakeHFJobs) -> None:
    from datetime import timedelta

    from fake_hf_jobs import _now

    now = _now()
    today_id = fake_hf.add_job(stage="COMPLETED")
    old_id = fake_hf.add_job(stage="COMPLETED")
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for job_id, created, minutes in ((today_id, max(now - timedelta(minutes=11), midnight), 10),
                                     (old_id, now - timedelta(days=2), 60)):
        job = fake_hf.jobs[job_id]
        job.spec["flavor"] = "a10g-large"  # $1.50 an hour, billed by the started minute
        job.created_at, job.started_at = created, created + timedelta(seconds=30)
        job.finished_at = job.started_at + timedelta(minutes=minutes)
    async with hf_client(fake_hf) as client:
        text, out = await call(client, "list_jobs")
    assert out["cost_usd"] == pytest.approx(1.75) and out["cost_today_usd"] == pytest.approx(0.25)
    assert "$1.75 for the 2 job(s) listed" in text and "$0.25 for 1 job(s)" in text


async def test_list_jobs_on_a_backend_that_bills_nothing_says_no_cost(state_dir) -> None:  # type: ignore[no-untyped-def]
    from mcp_client import local_client

    async with local_client(state_dir) as client:
        text, out = await call(client, "list_jobs")
    assert out.get("cost_usd") is None and "Cost:" not in text
