"""The two promises ML engineers judge us on: a secret's value never leaks, and a stop stops everything a job started.

Each test names, in its docstring, the bug it pins (found in an adversarial review) or, where the behaviour was
already right, the path it keeps covered. Secrets are tried through the real MCP server in-process (the SDK's
client), through the backends directly, and on disk (spec.json, the SQLite database and its WAL, the log). Stopping
is tried with real process trees written by the tests: a process that leaves the job's process group with setsid,
a daemonising double fork, an escapee with a cleared environment, a supervisor killed from outside, a cancel that
races the command's own exit, and a server shut down mid-job.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from fake_hf_jobs import FakeHFJobs
from hf_fixtures import make_hf_backend
from huggingface_hub import constants
from mcp_client import Person, call, call_error, connect, hf_client, local_client, text_of
from polling import eventually, holds

from trl_jobs_mcp.jobs.backends.hf import hf_command_line
from trl_jobs_mcp.jobs.backends.local import LocalBackend
from trl_jobs_mcp.jobs.backends.local.paths import process_alive
from trl_jobs_mcp.jobs.supervisor.procs import job_processes
from trl_jobs_mcp.jobs.core.models import InvalidJobSpec, JobSpec, JobStage
from trl_jobs_mcp.server.settings import Settings
from trl_jobs_mcp.tools.base import SecretBook, translate

pytestmark = pytest.mark.anyio

PY = sys.executable
CHILDREN = Path(__file__).parent / "children"
SECRET = "sekret-VALUE_0123456789"  # not shaped like a Hugging Face token: only the secrets map can scrub it
# An `hf auth login` token that the token-shape rule does not catch (underscores), so only knowing it scrubs it.
SAVED_TOKEN = "hf_saved_login_token_for_the_tests_0123"
# A token of the real shape ("hf_" + 34 letters and digits), given to no one.
SHAPED_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
STOP_BOUND = 20.0  # seconds; a stop takes the grace (1-2 s here) and a few polls


@pytest.fixture(autouse=True)
def no_ambient_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No token of the developer's steers a test: HF_HOME is an empty folder and the token variables are unset."""
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_TOKEN_PATH", str(hf_home / "token"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(hf_home / "token"))  # read by huggingface_hub at import
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "TRL_JOBS_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return hf_home


BACKEND_GRACE = 1.0  # seconds; the make_backend fixture (conftest) reads it


def script(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code))
    return path


def files_holding(root: Path, *values: str) -> list[str]:
    """Every file under `root` (database, WAL, spec.json, log, ...) that contains one of `values`."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)}: {value!r}" for value in values if value.encode() in data]
    return hits


async def finished(backend: LocalBackend, job_id: str, timeout: float = STOP_BOUND):
    async def done():
        info = await backend.inspect(job_id)
        return info if info.finished else None
    return await eventually(done, timeout=timeout, what=f"job {job_id} to finish")


def pid_of(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


# ============================================================ secrets: through the MCP server


async def test_secrets_sent_as_json_text_are_known_before_a_refusal_quotes_a_value(state_dir: Path) -> None:
    """Bug: the server learnt a call's secrets only when `secrets` came as an object. Clients that send objects as
    JSON text (Claude Desktop) got refusals that quote the bad value ("cannot read '<secret>' as a duration",
    "unknown flavor '<secret>'") with the secret in clear, and results (a label, the model name) unscrubbed.
    (tools/base.py now notes the secrets from the decoded arguments.)"""
    secrets = json.dumps({"API_KEY": SECRET})
    async with local_client(state_dir) as client:
        refusals = [
            await call_error(client, "launch_training", model="m/x", dataset="d/y", secrets=secrets, timeout=SECRET),
            await call_error(client, "launch_training", model="m/x", dataset="d/y", secrets=secrets, flavor=SECRET),
            await call_error(client, "run_job", command=[PY, "-c", "pass"], secrets=secrets, timeout=SECRET),
        ]
        text, out = await call(client, "launch_training", model="m/x", dataset="d/y", secrets=secrets,
                               labels={"note": SECRET}, dry_run=True)
    assert "timeout" in refusals[0] and "flavor" in refusals[1] and "timeout" in refusals[2]
    assert SECRET not in "".join(refusals) + text + json.dumps(out)
    assert out["labels"]["note"] == "<redacted>"


async def _job_that_completed(client: Any) -> str:
    _, launched = await call(client, "run_job", command=[PY, "-c", "print('done')"])
    _, waited = await call(client, "wait_for_job", job_id=launched["job_id"], timeout=60)
    assert waited["stage"] == "COMPLETED"
    return launched["job_id"]


async def _answers_about(client: Any, job_id: str) -> tuple[str, dict[str, Any]]:
    text, listing = await call(client, "list_jobs")
    inspected_text, inspected = await call(client, "inspect_job", job_id=job_id)
    return text + inspected_text, {"listing": listing, "inspected": inspected}


async def test_one_clients_secrets_never_change_another_clients_answers(state_dir: Path) -> None:
    """Bug (issue 23, high): every value of a `secrets` argument joined one server-wide redaction list before the
    call was validated: for refused calls, for tools without a `secrets` field, on a read-only server. Over HTTP,
    inspect_job {"job_id": "x", "secrets": {"p": "COMPLETED"}} (refused) made every later list_jobs and inspect_job
    of every client fail; a job id sent as a secret hid that job from everyone. Now a call's secrets scrub that
    call's answer only, and a launched job's scrub that job's."""
    async with local_client(state_dir) as client:
        job_id = await _job_that_completed(client)
        before = await _answers_about(client, job_id)
        hostile = {"p": "COMPLETED", "q": job_id, "r": "jobs", "s": "stage"}
        for tool, arguments in [("inspect_job", {"job_id": job_id}), ("list_jobs", {}), ("list_hardware", {}),
                                ("run_job", {"command": [PY, "-c", "pass"], "timeout": "soon"}),
                                ("launch_training", {"model": "m/x", "dataset": "d/y", "flavor": "no-such"})]:
            await call_error(client, tool, **arguments, secrets=hostile)
        # A real launch carrying them: its own values scrub its own job, nobody else's.
        await call(client, "run_job", command=[PY, "-c", "pass"], secrets={"P": "COMPLETED", "Q": job_id})
        after = await _answers_about(client, job_id)
    async with local_client(state_dir, read_only=True) as reader:
        await call_error(reader, "inspect_job", job_id=job_id, secrets=hostile)
        read_only = await _answers_about(reader, job_id)
    for text, data in (after, read_only):
        assert data["inspected"] == before[1]["inspected"]
        assert data["inspected"]["job"]["stage"] == "COMPLETED" and data["inspected"]["job"]["id"] == job_id
        assert job_id in text and "COMPLETED" in text and "<redacted>" not in text
        mine = next(job for job in data["listing"]["jobs"] if job["id"] == job_id)
        assert mine["stage"] == "COMPLETED"


async def test_a_secret_that_spells_a_stage_or_an_id_leaves_its_own_answer_whole(state_dir: Path) -> None:
    """Bug (issue 23): a secret's value rewrote enum, id and structural fields of answers. A launch whose secret
    spells its own stage keeps the stage in its answer (structured and text); the value stays out of its log."""
    async with local_client(state_dir) as client:
        text, out = await call(client, "run_job", command=[PY, "-c", "import os; print('state:', os.environ['S'])"],
                               secrets={"S": "SCHEDULING", "R": "RUNNING"}, labels={"note": "SCHEDULING"})
        _, waited = await call(client, "wait_for_job", job_id=out["job_id"], timeout=60)
        _, logs = await call(client, "fetch_logs", job_id=out["job_id"])
    assert out["stage"] in ("SCHEDULING", "RUNNING") and out["stage"] in text and out["job_id"] in text
    assert out["labels"] == {"note": "<redacted>"}  # the caller's data is scrubbed; our words are not
    assert "state: <redacted>" in logs["lines"]


async def test_the_count_of_secrets_in_one_call_is_bounded(state_dir: Path) -> None:
    """Bug (issue 23): 100,000 values sent once made every later call slower (a pass per value over each answer).
    One call takes at most MAX_SECRETS; more is refused by name, and nothing of it stays (bench/stress.py measures
    the scrub's cost against the number of values)."""
    from trl_jobs_mcp.jobs.core.models import MAX_SECRETS

    many = {f"K{i}": f"value-{i:06d}" for i in range(100_000)}
    async with local_client(state_dir) as client:
        before = await call(client, "list_hardware")
        refused = await call_error(client, "run_job", command=[PY, "-c", "pass"], secrets=many)
        await call_error(client, "list_hardware", secrets=many)
        after = await call(client, "list_hardware")
        _, listing = await call(client, "list_jobs")
    assert f"secrets: at most {MAX_SECRETS} entries, got 100000" in refused
    assert after == before and listing["jobs"] == []
    with pytest.raises(InvalidJobSpec, match=f"at most {MAX_SECRETS}"):
        JobSpec(command=["true"], secrets=dict(list(many.items())[:MAX_SECRETS + 1]))


async def test_a_secret_in_a_command_line_is_refused_naming_the_variable_to_read(state_dir: Path) -> None:
    """Bug (issue 23): a secret written into a command's argv was visible in `ps` for the job's whole life. It is
    refused, naming the field and the environment variable to read instead; nothing starts."""
    async with local_client(state_dir) as client:
        ran = await call_error(client, "run_job", command=[PY, "-c", "pass", "--key", SECRET],
                               secrets={"API_KEY": SECRET})
        dry = await call_error(client, "run_job", command=[PY, "-c", "pass", f"--key={SECRET}"],
                               secrets={"API_KEY": SECRET}, dry_run=True)
        trained = await call_error(client, "launch_training", model=SECRET, dataset="d/y",
                                   secrets={"API_KEY": SECRET}, dry_run=True)
        _, listing = await call(client, "list_jobs")
    assert "run_job: command: argument 4 (after --key) holds the value of secret API_KEY" in ran
    assert "command: argument 3 holds the value of secret API_KEY" in dry
    assert "API_KEY" in trained and "(ps)" in trained
    for message in (ran, dry, trained):
        assert "environment variable API_KEY" in message and SECRET not in message
    assert listing["jobs"] == []
    assert JobSpec(command=["sh", "-c", "echo $HF_TOKEN"], secrets={"HF_TOKEN": "$HF_TOKEN"})  # reads the env


@pytest.mark.parametrize(("tool", "field", "arguments"), [
    ("launch_training", "max_steps", {"model": "m/x", "dataset": "d/y", "max_steps": SECRET}),
    ("launch_training", "learning_rate", {"model": "m/x", "dataset": "d/y", "learning_rate": SECRET}),
    ("launch_training", "secrets.K", {"model": "m/x", "dataset": "d/y", "secrets": {"K": 12345678}}),
    ("fetch_logs", "tail", {"job_id": "0123456789abcdef", "tail": SECRET}),
    ("run_job", "command", {"command": SECRET}),
])
async def test_a_secret_in_a_wrongly_typed_field_is_not_echoed_by_validation(
        state_dir: Path, tool: str, field: str, arguments: dict[str, Any]) -> None:
    """Guards: pydantic's own messages for a wrongly typed value carry no input, and we print none; the refusal
    names the field. (A secret not declared anywhere is not known to the server, so it must never be echoed.)"""
    async with local_client(state_dir) as client:
        message = await call_error(client, tool, **arguments)
    assert SECRET not in message and "12345678" not in message
    assert f"- {field}:" in message


@pytest.mark.parametrize("where", ["saved login", "inherited HF_TOKEN"])
async def test_the_users_own_token_never_comes_back_from_a_local_job_that_prints_it(
        state_dir: Path, tmp_path: Path, no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch,
        where: str) -> None:
    """Bug: the server's redaction knew only the HF_TOKEN of its settings, and the local backend knew nothing but a
    job's declared secrets. A local job that printed the `hf auth login` token (or the HF_TOKEN it inherits) sent it
    back in clear through fetch_logs, wait_for_job, inspect_job's message and diagnosis and the jobs:// resources,
    and wrote it to its log file."""
    if where == "saved login":
        (no_ambient_credentials / "token").write_text(SAVED_TOKEN + "\n")
        printer = "from pathlib import Path; token = Path(os.environ['HF_TOKEN_PATH']).read_text().strip()"
    else:
        monkeypatch.setenv("HF_TOKEN", SAVED_TOKEN)  # the server's environment; its Settings are given no token
        printer = "token = os.environ['HF_TOKEN']"
    job = script(tmp_path, "leak.py", f"""
        import os, sys
        {printer}
        print("{{'loss': '1.5', 'epoch': '0.5'}}", flush=True)
        print("authenticated with", token, flush=True)
        print("no shape rule would catch", token[:-1], flush=True)  # a different value: stays
        sys.exit("Traceback: bad token " + token)
    """)
    notes: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message or "")

    async with local_client(state_dir) as client:
        _, launched = await call(client, "run_job", command=[PY, str(job)])
        job_id = launched["job_id"]
        waited = await client.call_tool("wait_for_job", {"job_id": job_id, "timeout": 60},
                                        progress_callback=on_progress)
        seen = [text_of(waited), json.dumps(waited.structured_content)]
        for arguments in ({"tail": 50}, {"since": 0}, {"since": 0, "tail": 1}):
            text, out = await call(client, "fetch_logs", job_id=job_id, **arguments)
            seen += [text, json.dumps(out)]
        text, out = await call(client, "inspect_job", job_id=job_id)
        seen += [text, json.dumps(out)]
        seen.append((await client.read_resource(f"jobs://{job_id}/logs")).contents[0].text)
        seen.append((await client.read_resource(f"jobs://{job_id}")).contents[0].text)
    blob = "\n".join(seen + notes)
    assert out["job"]["stage"] == "ERROR"
    assert "authenticated with <redacted>" in blob and SAVED_TOKEN[:-1] in blob  # scrubbed, not blanked
    assert SAVED_TOKEN not in blob
    assert files_holding(state_dir, SAVED_TOKEN) == []


async def test_a_token_nobody_declared_is_scrubbed_by_its_shape(state_dir: Path, tmp_path: Path) -> None:
    """Bug: only declared values were scrubbed; a Hugging Face token the job found elsewhere (a second account's, a
    config file's) came back in clear. Anything shaped like one is now replaced on every path we return."""
    async with local_client(state_dir) as client:
        _, launched = await call(client, "run_job", command=[PY, "-c", f"print('token={SHAPED_TOKEN}.')"])
        job_id = launched["job_id"]
        _, waited = await call(client, "wait_for_job", job_id=job_id, timeout=60)
        _, logs = await call(client, "fetch_logs", job_id=job_id)
    assert waited["stage"] == "COMPLETED"
    assert logs["lines"] == ["token=<redacted>."]
    assert SHAPED_TOKEN not in json.dumps(waited)


async def test_the_servers_bearer_token_is_not_handed_to_jobs(make_backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug: a local job inherited the server's whole environment, TRL_JOBS_AUTH_TOKEN (the HTTP transport's bearer
    token) included, so any job could print it or call the server with it."""
    monkeypatch.setenv("TRL_JOBS_AUTH_TOKEN", SECRET)
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=[PY, "-c", "import os; print(os.environ.get('TRL_JOBS_AUTH_TOKEN'))"]))
    await finished(backend, info.id)
    assert (await backend.logs(info.id)).lines == ["None"]
    assert files_holding(backend.home, SECRET) == []


@pytest.mark.parametrize("env", [{"HF_TOKEN": SECRET}, {"NOTE": SHAPED_TOKEN}, {"WANDB_API_KEY": SECRET}])
async def test_a_credential_in_env_is_refused_naming_the_variable_not_the_value(
        state_dir: Path, env: dict[str, str]) -> None:
    """Bug: run_job took a token in `env`, whose values are shown and stored: the dry run's `hf jobs run -e
    HF_TOKEN=<token>` line printed it, and spec.json kept it. (launch_training already refused; run_job did not.)"""
    async with local_client(state_dir) as client:
        dry = await call_error(client, "run_job", command=[PY, "-c", "pass"], env=env, dry_run=True)
        real = await call_error(client, "run_job", command=[PY, "-c", "pass"], env=env)
        _, listing = await call(client, "list_jobs")
    name, value = next(iter(env.items()))
    for message in (dry, real):
        assert f"env: {name} looks like a credential" in message and "secrets" in message
        assert value not in message
    assert listing["jobs"] == []
    assert files_holding(state_dir, value) == []


async def test_a_secret_too_short_to_scrub_is_refused_at_launch(state_dir: Path) -> None:
    """Bug: values shorter than 4 characters are never scrubbed (replacing every "1" would wreck a log), and nothing
    told the user: a 3-character secret printed by the job came back in clear. It is now refused at launch."""
    async with local_client(state_dir) as client:
        message = await call_error(client, "run_job", command=[PY, "-c", "pass"], secrets={"PIN": "x7q"})
        _, listing = await call(client, "list_jobs")
    assert "secrets: PIN's value is shorter than 4 characters" in message and "x7q" not in message
    assert listing["jobs"] == []
    with pytest.raises(InvalidJobSpec, match="shorter than 4"):
        JobSpec(command=["true"], secrets={"PIN": "x7q"})
    assert JobSpec(command=["true"], secrets={"EMPTY": ""}).secrets == {"EMPTY": ""}  # nothing to leak


async def test_a_pasted_or_multi_line_secret_is_scrubbed_however_the_job_prints_it(make_backend,
                                                                                 state_dir: Path) -> None:
    """Bug: only the exact value was scrubbed. A token pasted with a trailing newline is printed stripped by most
    libraries (huggingface_hub strips it), and a multi-line secret (a private key) is printed a line at a time or
    with CRLF endings: those forms reached the log file and every read in clear. A short value with padding
    (" x7q" and a newline) is now refused like a short one. A replacement never swallows the line break after a
    value: the pasted value's own newline is not part of what is replaced (it was, so two lines ran together)."""
    token = "tok-pasted-0123456789"
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG\nw0BAQEFAASCBKcwggSj\n-----END KEY-----"
    printer = ("import os, sys; t = os.environ['TOKEN']; k = os.environ['KEY']\n"
               "sys.stdout.buffer.write(('using ' + t.strip() + '\\n').encode()); sys.stdout.flush()\n"
               "print('bad line:', k.splitlines()[1])\n"
               "print(k.replace(chr(10), chr(13) + chr(10)))\n")
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=[PY, "-c", printer], secrets={"TOKEN": token + "\n", "KEY": key}))
    await finished(backend, info.id)
    lines = (await backend.logs(info.id, since=0)).lines
    assert lines[:2] == ["using <redacted>", "bad line: <redacted>"]
    blob = "\n".join(lines)
    assert "MIIEvQIBADANBgkqhkiG" not in blob and "w0BAQEFAASCBKcwggSj" not in blob
    assert files_holding(state_dir, token, "MIIEvQIBADANBgkqhkiG", "w0BAQEFAASCBKcwggSj") == []
    with pytest.raises(InvalidJobSpec, match="shorter than 4"):
        JobSpec(command=["true"], secrets={"PIN": " x7q\n"})


async def test_a_secret_in_a_label_key_never_reaches_the_database(make_backend, state_dir: Path) -> None:
    """Bug: the local backend scrubbed label values but stored label keys as given: a secret used as a key was
    written to jobs.db (and its WAL) and returned in JobInfo.labels."""
    backend = await make_backend()
    info = await backend.submit(JobSpec(command=[PY, "-c", "pass"], secrets={"API_KEY": SECRET},
                                        labels={SECRET: "v", "note": f"x{SECRET}x"}))
    assert info.labels == {"<redacted>": "v", "note": "x<redacted>x"}
    await finished(backend, info.id)
    page = await backend.list(labels={"note": "x<redacted>x"})
    assert [job.id for job in page.jobs] == [info.id]
    assert files_holding(state_dir, SECRET) == []


async def test_logs_stay_scrubbed_across_reads_and_after_a_server_restart(state_dir: Path, tmp_path: Path,
                                                                           make_backend) -> None:
    """Guards the restart question: a new server (a new backend, the secret no longer in memory) returns the log, the
    failure message and the diagnosis scrubbed, because the supervisor scrubbed the file itself, including a value
    split across two writes; paging with since/tail through every line finds no piece of it."""
    job = script(tmp_path, "split.py", """
        import os, sys, time
        secret = os.environ["MY_SECRET"]
        out = sys.stdout.buffer
        for i in range(40):
            out.write(f"line {i} {secret}\\n".encode())
        half = len(secret) // 2
        out.write(f"split: {secret[:half]}".encode()); out.flush()
        time.sleep(0.3)  # the halves arrive in two reads
        out.write(f"{secret[half:]} end\\n".encode()); out.flush()
        sys.exit("crashed holding " + secret)
    """)
    async with local_client(state_dir) as client:
        _, launched = await call(client, "run_job", command=[PY, str(job)], secrets={"MY_SECRET": SECRET})
        job_id = launched["job_id"]
        _, waited = await call(client, "wait_for_job", job_id=job_id, timeout=60)
    assert waited["stage"] == "ERROR"
    async with local_client(state_dir) as client:  # a new server: nothing of the first one's memory
        _, everything = await call(client, "fetch_logs", job_id=job_id, since=0)
        _, tail = await call(client, "fetch_logs", job_id=job_id, tail=3)
        text, inspected = await call(client, "inspect_job", job_id=job_id)
        resource = (await client.read_resource(f"jobs://{job_id}/logs")).contents[0].text
    backend = await make_backend()  # and straight through a new backend, from every offset
    size = backend.paths(job_id).log.stat().st_size
    pieces = [line for since in range(0, size, 5) for line in (await backend.logs(job_id, since=since)).lines]
    pieces += [line for n in (1, 2, 5, 50) for line in (await backend.logs(job_id, tail=n, since=size // 2)).lines]
    assert "split: <redacted> end" in everything["lines"] and "line 39 <redacted>" in everything["lines"]
    assert tail["lines"][-1] == "crashed holding <redacted>"
    assert inspected["job"]["message"].endswith("last log line: crashed holding <redacted>")
    blob = json.dumps(everything) + json.dumps(tail) + text + json.dumps(inspected) + resource + json.dumps(pieces)
    assert SECRET not in blob and SECRET[: len(SECRET) // 2] not in blob and SECRET[len(SECRET) // 2:] not in blob
    assert files_holding(state_dir, SECRET) == []


def test_an_unexpected_error_is_logged_with_secrets_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    """Bug: an unexpected exception was logged with its traceback as is: a message that repeated a secret went to
    stderr, which MCP clients keep in log files."""
    from trl_jobs_mcp.tools import fetch_logs

    book = SecretBook([SECRET])
    with caplog.at_level(logging.ERROR, logger="trl_jobs_mcp.tools"):
        message = str(translate(fetch_logs.TOOL, KeyError(f"no entry for {SECRET}"), book))
    assert SECRET not in message
    assert "no entry for <redacted>" in caplog.text and SECRET not in caplog.text


# ============================================================ secrets: Hugging Face backend


async def test_hf_labels_never_carry_a_secret_to_the_hub(fake_hf: FakeHFJobs) -> None:
    """Bug: label values went to the Hub verbatim (stored there, shown on the job's page, and returned in clear by a
    server restarted since), a secret used as a label key was sent too, and the dry run's `hf jobs` line printed
    `--label note=<secret>`."""
    backend = make_hf_backend(fake_hf)
    spec = JobSpec(command=["python", "-c", "pass"], secrets={"API_KEY": SECRET}, labels={"note": SECRET})
    info = await backend.submit(spec)
    posted = fake_hf.posted_specs[-1]
    assert SECRET not in json.dumps(posted["labels"]) and posted["labels"]["note"] == "-redacted-"
    assert info.labels["note"] == "-redacted-"
    with pytest.raises(InvalidJobSpec, match="label key holds a secret") as caught:
        await backend.submit(JobSpec(command=["true"], secrets={"API_KEY": SECRET}, labels={"k" + SECRET: "v"}))
    assert SECRET not in str(caught.value) and len(fake_hf.posted_specs) == 1
    line = hf_command_line(spec)
    assert SECRET not in " ".join(line) and "note=-redacted-" in line
    restarted = make_hf_backend(fake_hf)  # no secret in memory: the Hub's copy is already clean
    assert SECRET not in (await restarted.inspect(info.id)).model_dump_json()


async def test_hf_error_bodies_that_echo_the_request_are_scrubbed(fake_hf: FakeHFJobs) -> None:
    """Guards: an error body that repeats the request (a 400 quoting the secrets, 5xx retried then given up) comes
    back scrubbed of the secret and the token."""
    backend = make_hf_backend(fake_hf)
    spec = JobSpec(command=["true"], secrets={"API_KEY": SECRET, "HF_TOKEN": "$HF_TOKEN"})
    fake_hf.fail_next("POST", r"^/api/jobs/", 400, error=f"bad body: API_KEY={SECRET} HF_TOKEN={fake_hf.token}")
    with pytest.raises(InvalidJobSpec) as bad:
        await backend.submit(spec)
    fake_hf.fail_next("POST", r"^/api/jobs/", 503, count=10, error=f"busy with {SECRET}")
    with pytest.raises(Exception) as busy:
        await backend.submit(spec)
    for caught in (bad, busy):
        assert SECRET not in str(caught.value) and fake_hf.token not in str(caught.value)
        assert "<redacted>" in str(caught.value)


async def test_hf_tokens_stay_scrubbed_after_a_server_restart(fake_hf: FakeHFJobs) -> None:
    """Guards the restart question on Hugging Face: a new server still scrubs its own token, the caller's token put
    in as "$HF_TOKEN", and any Hugging Face token shape from the job's log and messages. (Other secret values are
    known only to the server that launched the job: the Hub never sends them back; hf.py says so.)"""
    async with hf_client(fake_hf) as client:
        _, launched = await call(client, "run_job", command=["python", "-c", "pass"],
                                 secrets={"HF_TOKEN": "$HF_TOKEN"})
    job_id = launched["job_id"]
    fake_hf.append_log(job_id, f"using {fake_hf.token}", f"found {SHAPED_TOKEN} in a config file")
    fake_hf.finish(job_id, "ERROR", f"401 for token {SHAPED_TOKEN}")
    async with hf_client(fake_hf) as client:  # the restarted server
        _, logs = await call(client, "fetch_logs", job_id=job_id)
        text, inspected = await call(client, "inspect_job", job_id=job_id)
    assert logs["lines"][-2:] == ["using <redacted>", "found <redacted> in a config file"]
    blob = json.dumps(logs) + text + json.dumps(inspected)
    assert fake_hf.token not in blob and SHAPED_TOKEN not in blob


async def test_hf_saved_login_token_is_scrubbed_when_hf_token_is_unset(fake_hf: FakeHFJobs,
                                                                       no_ambient_credentials: Path) -> None:
    """Guards: with HF_TOKEN unset the hf backend uses the `hf auth login` token; it is scrubbed from logs and from
    refusals even though the server's settings never named it."""
    (no_ambient_credentials / "token").write_text(fake_hf.token)
    settings = Settings.from_env({}, backend="hf", hf_endpoint=fake_hf.url)
    assert settings.hf_token is None
    async with connect(settings) as client:
        _, launched = await call(client, "run_job", command=["python", "-c", "pass"])
        fake_hf.append_log(launched["job_id"], f"HF_TOKEN={fake_hf.token}")
        fake_hf.finish(launched["job_id"])
        _, logs = await call(client, "fetch_logs", job_id=launched["job_id"])
        fake_hf.fail_next("GET", r"^/api/jobs/", 403, error=f"token {fake_hf.token} may not read this")
        refusal = await call_error(client, "inspect_job", job_id=launched["job_id"])
    assert logs["lines"][-1] == "HF_TOKEN=<redacted>"
    assert fake_hf.token not in refusal and "<redacted>" in refusal


# ============================================================ stopping


async def helper_stopped(folder: Path) -> None:
    """The helper's process is gone and its heartbeat no longer moves."""
    pid = pid_of(folder / "helper.pid")
    assert pid is not None
    await eventually(lambda: not process_alive(pid, None), timeout=STOP_BOUND, what=f"helper {pid} to be gone")
    last = (folder / "beat").read_text()
    await holds(lambda: (folder / "beat").read_text() == last, duration=0.3, what="the helper's heartbeat stopped")


@pytest.mark.parametrize("style", ["setsid", "double-fork", "clean-env"])
@pytest.mark.parametrize("stop", ["cancel", "timeout", "exit"])
async def test_a_process_that_left_the_group_is_stopped_with_the_job(make_backend, tmp_path: Path, style: str,
                                                                     stop: str) -> None:
    """Bug: cancel, timeout and the end of a job signalled only the command's process group. A process that had
    left it (start_new_session / setsid, a daemonising double fork) kept running, holding memory, a GPU or the log
    pipe, after the job was reported CANCELED, ERROR or COMPLETED. The supervisor now stops the job's whole tree:
    it is the tree's subreaper and signals every descendant (found even with a cleared environment), plus any
    process whose environment names the job."""
    backend = await make_backend()
    escaper = CHILDREN / "escaper.py"
    folder = tmp_path / "run"
    folder.mkdir()
    argv = [PY, str(escaper), str(folder), style] + (["--exit"] if stop == "exit" else [])
    info = await backend.submit(JobSpec(command=argv, timeout="3s" if stop == "timeout" else "5m"))
    await eventually(lambda: (folder / "beat").exists(), timeout=STOP_BOUND, what="the helper's first beat")
    if stop == "cancel":
        done = await backend.cancel(info.id)
    else:
        done = await finished(backend, info.id)
    expected = {"cancel": JobStage.CANCELED, "timeout": JobStage.ERROR, "exit": JobStage.COMPLETED}[stop]
    assert done.stage == expected, done
    if stop == "timeout":
        assert "hit its timeout of 3s" in (done.message or "")
    await helper_stopped(folder)


async def test_a_supervisor_killed_from_outside_takes_its_escaped_helper_with_it(make_backend,
                                                                                 tmp_path: Path) -> None:
    """Bug: when a job's supervisor died without recording an exit, the backend SIGKILLed the command's group only;
    a helper that had left the group outlived the job marked ERROR. It is now found by TRL_JOBS_JOB_ID in its
    environment and killed too."""
    backend = await make_backend()
    escaper = CHILDREN / "escaper.py"
    folder = tmp_path / "run"
    folder.mkdir()
    info = await backend.submit(JobSpec(command=[PY, str(escaper), str(folder), "setsid"]))
    await eventually(lambda: (folder / "beat").exists(), timeout=STOP_BOUND, what="the helper's first beat")
    supervisor = json.loads(backend.paths(info.id).proc.read_text())["pid"]
    os.kill(supervisor, signal.SIGKILL)
    done = await finished(backend, info.id)
    assert done.stage == JobStage.ERROR and "supervisor process died" in (done.message or "")
    await helper_stopped(folder)
    assert job_processes(None, job_id=info.id) == {}


async def test_a_cancel_that_arrives_after_the_command_ended_keeps_the_real_outcome(make_backend,
                                                                                    tmp_path: Path) -> None:
    """Bug: a cancel that raced the command's own exit (the command had ended; its supervisor was still stopping a
    leftover process) marked the job CANCELED, so a training run that had completed and saved its model read as
    cancelled. The supervisor's record says the command ended on its own: that outcome now stands."""
    backend = await make_backend(grace=3.0)
    job = script(tmp_path, "leaves.py", """
        import os, signal, subprocess, sys, time
        folder = sys.argv[1]
        if sys.argv[-1] == "--straggler":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # outlives the command by the supervisor's grace
            open(os.path.join(folder, "straggler.pid"), "w").write(str(os.getpid()))
            while True:
                time.sleep(1)
        open(os.path.join(folder, "command.pid"), "w").write(str(os.getpid()))
        subprocess.Popen([sys.executable, __file__, folder, "--straggler"])
        while not os.path.exists(os.path.join(folder, "straggler.pid")):
            time.sleep(0.01)
        print("trained and saved", flush=True)
    """)
    info = await backend.submit(JobSpec(command=[PY, str(job), str(tmp_path)]))
    await eventually(lambda: pid_of(tmp_path / "command.pid") and pid_of(tmp_path / "straggler.pid"),
                     timeout=STOP_BOUND, what="the command and its straggler")
    command = pid_of(tmp_path / "command.pid")
    await eventually(lambda: not process_alive(command, None), timeout=STOP_BOUND, what="the command to end")
    assert (await backend.inspect(info.id)).stage == JobStage.RUNNING  # the supervisor is still stopping its group
    done = await backend.cancel(info.id)
    assert done.stage == JobStage.COMPLETED and done.exit_code == 0, done
    assert "ended on its own before the cancel" in (done.message or "")
    assert not process_alive(pid_of(tmp_path / "straggler.pid"), None)
    async with local_client(backend.home) as client:
        text, out = await call(client, "inspect_job", job_id=info.id)
    assert out["job"]["stage"] == "COMPLETED"


async def test_cancel_in_the_scheduling_window_never_leaves_a_process(make_backend, tmp_path: Path) -> None:
    """Guards the races around start: a job cancelled while queued never starts, and jobs cancelled right after
    submit (while the monitor claims and launches them) end CANCELED with no process left carrying their id."""
    backend = await make_backend(slots=1)
    blocker = await backend.submit(JobSpec(command=[PY, "-c", "import time; time.sleep(60)"]))
    await eventually(lambda: backend.paths(blocker.id).proc.exists(), timeout=STOP_BOUND, what="the blocker")
    marker = tmp_path / "queued-ran"
    queued = await backend.submit(JobSpec(command=[PY, "-c", f"open({str(marker)!r}, 'w')"]))
    assert queued.stage == JobStage.SCHEDULING
    canceled = await backend.cancel(queued.id)
    assert canceled.stage == JobStage.CANCELED and canceled.message == "canceled before it started"
    await backend.cancel(blocker.id)
    await holds(lambda: not marker.exists(), duration=1.5, what="the cancelled queued job never running")

    ids = []
    for i in range(4):
        info = await backend.submit(JobSpec(command=[PY, "-c", "import time; time.sleep(60)"]))
        if i % 2:
            await anyio.sleep(0)  # let the monitor thread be mid-claim for some of them
        ids.append((await backend.cancel(info.id)).id)
    for job_id in ids:
        assert (await backend.inspect(job_id)).stage == JobStage.CANCELED
        await eventually(lambda job_id=job_id: job_processes(None, job_id=job_id) == {}, timeout=STOP_BOUND,
                         what=f"no process of job {job_id}")


async def test_a_server_shut_down_mid_job_leaves_it_running_and_the_next_one_stops_it_whole(
        state_dir: Path, tmp_path: Path) -> None:
    """Guards the intended restart behaviour (closing the server leaves the job running; the next server adopts it)
    and pins the escape bug across it: the adopting server's cancel_job used to stop the job's group and leave the
    helper that had left it running. The supervisor, which outlives servers, now stops the helper too."""
    escaper = CHILDREN / "escaper.py"
    folder = tmp_path / "run"
    folder.mkdir()
    async with local_client(state_dir) as client:
        _, launched = await call(client, "run_job", command=[PY, str(escaper), str(folder), "setsid"])
        job_id = launched["job_id"]
        await eventually(lambda: (folder / "beat").exists(), timeout=STOP_BOUND, what="the helper's first beat")
    first = (folder / "beat").read_text()
    await eventually(lambda: (folder / "beat").read_text() != first, timeout=STOP_BOUND,
                     what="the job beating on with no server")
    async with local_client(state_dir) as client:
        _, inspected = await call(client, "inspect_job", job_id=job_id)
        assert inspected["job"]["stage"] == "RUNNING"
        text, out = await call(client, "cancel_job", job_id=job_id)
    assert out["stage"] == "CANCELED", text
    await helper_stopped(folder)
    assert job_processes(None, job_id=job_id) == {}


async def test_a_trl_style_launcher_tree_is_stopped_whole(make_backend, tmp_path: Path) -> None:
    """Guards the shape `trl sft` / accelerate have: a launcher that forwards SIGTERM to its trainer and waits for
    it, a trainer stuck in native code (ignores SIGTERM) with forked data-loader workers. Cancel ends every one of
    them (SIGKILL after the grace), and the job reads CANCELED."""
    backend = await make_backend(grace=1.0)
    tree = script(tmp_path, "launcher.py", """
        import multiprocessing, os, signal, subprocess, sys, time
        folder = sys.argv[1]

        def worker(n):
            open(os.path.join(folder, f"worker{n}.pid"), "w").write(str(os.getpid()))
            while True:
                time.sleep(0.05)

        if sys.argv[-1] == "--trainer":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            ctx = multiprocessing.get_context("fork")
            for n in range(2):
                ctx.Process(target=worker, args=(n,)).start()
            open(os.path.join(folder, "trainer.pid"), "w").write(str(os.getpid()))
            while True:
                time.sleep(0.05)

        trainer = subprocess.Popen([sys.executable, __file__, folder, "--trainer"])
        signal.signal(signal.SIGTERM, lambda *_: trainer.send_signal(signal.SIGTERM))
        open(os.path.join(folder, "launcher.pid"), "w").write(str(os.getpid()))
        sys.exit(trainer.wait())
    """)
    names = ("launcher", "trainer", "worker0", "worker1")
    info = await backend.submit(JobSpec(command=[PY, str(tree), str(tmp_path)]))
    await eventually(lambda: all(pid_of(tmp_path / f"{n}.pid") for n in names), timeout=STOP_BOUND,
                     what="the launcher, trainer and workers")
    done = await backend.cancel(info.id)
    assert done.stage == JobStage.CANCELED
    for name in names:
        pid = pid_of(tmp_path / f"{name}.pid")
        await eventually(lambda pid=pid: not process_alive(pid, None), timeout=STOP_BOUND, what=f"{name} to be gone")
    assert job_processes(None, job_id=info.id) == {}


def test_a_long_line_is_redacted_before_it_is_cut() -> None:
    """Bug: fetch_logs and wait_for_job cut lines at MAX_LINE_CHARS before the server's scrub, so a secret that
    straddled the cut came back as a fragment no later pass could recognise."""
    from trl_jobs_mcp.tools.base import MAX_LINE_CHARS, SecretBook

    secret = "s3cr3t-value-that-straddles"
    line = "x" * (MAX_LINE_CHARS - 10) + secret + " tail"
    (out,) = SecretBook([secret]).clip([line], 10)
    assert secret[:10] not in out and "<redacted>" in out


@pytest.mark.parametrize("job_id", ["../x", "../../api/whoami-v2", "abc?x=1", "abc#frag", "a/b/c", " / ", "%2e%2e"])
async def test_a_job_id_never_changes_the_hub_request(fake_hf: FakeHFJobs, job_id: str) -> None:
    """Bug (issue 23): hf job ids went into Hub URLs unencoded: inspect_job("../x") sent an authenticated
    GET /api/x, and `?` and `#` altered the request. An id is checked against the backend's id shape (its traits)
    and refused as no job, saying what ids look like; the Hub hears nothing of it."""
    async with hf_client(fake_hf) as client:
        before = len(fake_hf.requests)
        messages = [await call_error(client, tool, job_id=job_id) for tool in ("inspect_job", "fetch_logs",
                                                                               "cancel_job")]
    assert all("look like '6745a2b1c3d4e5f60718293a'" in message and "list_jobs" in message for message in messages)
    assert fake_hf.requests[before:] == []


# --- uploads: credential files never leave, whatever the consent (issue 23) ---

PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
               "-----END OPENSSH PRIVATE KEY-----\n")
ROW = '{"text": "a row of training data"}\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder as an attacker hopes to find it: keys, cloud credentials, a netrc, a .env with a token."""
    home = tmp_path / "home" / "me"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(PRIVATE_KEY)
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = abc\n")
    (home / ".netrc").write_text("machine example.com login me password pw\n")
    (home / ".env").write_text(f"HF_TOKEN={SHAPED_TOKEN}\n")
    (home / "data.jsonl").write_text(ROW)
    monkeypatch.setenv("HOME", str(home))
    return home


def data_folder(root: Path, **files: str) -> Path:
    folder = root / "data"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text(ROW * 4)
    for name, text in files.items():
        (folder / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (folder / name.replace("__", "/")).write_text(text)
    return folder


async def test_credential_files_are_refused_whatever_the_consent(fake_hf: FakeHFJobs, home: Path,
                                                                 tmp_path: Path) -> None:
    """Pins: with upload_local_data=true the hf backend uploaded ~/.ssh, a whole home, /proc/self/environ and
    /etc/shadow. Refused by location, by name and by content before the person is even asked; naming the file, never
    its content."""
    linked = data_folder(tmp_path / "linked")
    (linked / "more.jsonl").symlink_to(home / ".ssh" / "id_rsa")
    cases = {
        str(home / ".ssh"): ".ssh/ holds credentials",
        str(home): "a home folder",
        "~": "a home folder",
        "/proc/self/environ": "under /proc",
        "/etc/passwd": "under /etc",
        "/": "the root of the file system",
        str(data_folder(tmp_path / "dotenv", **{".env.local": "A=1\n"})): "holds .env.local: refused",
        str(data_folder(tmp_path / "key", **{"notes.txt": PRIVATE_KEY})): "holds notes.txt: refused, it holds a "
                                                                          "private key",
        str(data_folder(tmp_path / "tok", **{"sub__cfg.yaml": f"token: {SHAPED_TOKEN}\n"})):
            "holds sub/cfg.yaml: refused, it holds a Hugging Face token",
        str(data_folder(tmp_path / "docker", **{".docker__config.json": "{}"})): ".docker/ holds credentials",
        str(linked): "holds more.jsonl: refused, .ssh/ holds credentials",
    }
    person = Person("accept")
    async with hf_client(fake_hf, elicitation=person) as client:
        for dataset, why in cases.items():
            error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=dataset,
                                     upload_local_data=True)
            assert error.startswith("Error executing tool launch_training: dataset: ") and why in error, error
            assert "with or without consent" in error or "a home folder" in error or "root" in error
            assert SHAPED_TOKEN not in error and "BEGIN" not in error and "password" not in error
        model = tmp_path / "model"
        model.mkdir()
        (model / "config.json").write_text("{}")
        (model / "id_ed25519").write_text(PRIVATE_KEY)
        error = await call_error(client, "launch_training", model=str(model), dataset="trl-lib/Capybara",
                                 upload_local_data=True)
        assert "model: " in error and "'id_ed25519' is the name of a credential file" in error
    assert person.asked == [] and fake_hf.repos == {} and fake_hf.launches() == 0


async def test_a_credential_deep_in_a_file_is_found_after_consent_and_nothing_leaves(fake_hf: FakeHFJobs,
                                                                                     tmp_path: Path) -> None:
    """Only a file's first bytes are read before the person is asked; every byte is read (and hashed) once they
    agree, and a token found then still stops the upload before any repo exists."""
    folder = data_folder(tmp_path, **{"big.jsonl": ROW * 4000 + json.dumps({"text": SHAPED_TOKEN}) + "\n"})
    person = Person("accept")
    async with hf_client(fake_hf, elicitation=person) as client:
        error = await call_error(client, "launch_training", model="Qwen/Qwen2-0.5B", dataset=str(folder),
                                 upload_local_data=True)
    assert len(person.asked) == 1 and "big.jsonl" in person.asked[0]
    assert "holds big.jsonl: refused, it holds a Hugging Face token" in error and "Nothing was uploaded" in error
    assert SHAPED_TOKEN not in error and fake_hf.repos == {} and fake_hf.launches() == 0


async def test_a_uv_scripts_local_arguments_never_ship_a_credential(fake_hf: FakeHFJobs, home: Path,
                                                                    tmp_path: Path) -> None:
    """run_uv_job uploads every word of a uv script's line that names a local file: `run_job(script=..., script_args=
    ['~/.ssh/id_rsa'])` shipped the key with no consent asked. A credential file there is refused, naming it."""
    script_file = tmp_path / "train.py"
    script_file.write_text("import sys\nprint(open(sys.argv[1]).read())\n")
    notes = tmp_path / "notes.txt"
    notes.write_text(PRIVATE_KEY)
    async with hf_client(fake_hf) as client:
        for arg, field, why in ((str(home / ".ssh" / "id_rsa"), "script_args", ".ssh/ holds credentials"),
                                (str(notes), "script_args", "it holds a private key"),
                                ("/proc/self/environ", "script_args", "it is under /proc")):
            for dry_run in (True, False):
                error = await call_error(client, "run_job", script=str(script_file), script_args=[arg],
                                         dry_run=dry_run)
                assert f"{field}: {arg} would be uploaded with the job, and {why}" in error and "refused" in error
                assert "BEGIN" not in error
        error = await call_error(client, "run_job", script=str(home / ".env"))
        assert "script: " in error and "'.env' is the name of a credential file" in error
        _, ok = await call(client, "run_job", script=str(script_file), script_args=["--steps", "3"], dry_run=True)
    assert ok["dry_run"] is True and fake_hf.launches() == 0
