"""Issue 16: the edges an adversarial campaign found, each pinned by the test that names it.

Real parts throughout: the MCP server in-process through the SDK's client, real supervisors and child processes,
a real SQLite file overwritten with garbage, the installed console script over raw stdio.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_client import call, call_error, console_script, local_client
from polling import eventually, holds, wait_until

from trl_jobs_mcp.jobs.backends.local.paths import RUNNER
from trl_jobs_mcp.jobs.backends.local.rebuild import NOT_STARTED
from trl_jobs_mcp.jobs.supervisor.runner import CONFIG_VAR
from trl_jobs_mcp.jobs.backends.local.store import Store, StoreDamaged
from trl_jobs_mcp.jobs.core.models import BackendUnavailable, InvalidJobSpec, JobSpec, JobStage, parse_timeout

pytestmark = pytest.mark.anyio

PY = sys.executable
WAIT = 20.0
BACKEND_GRACE = 1.0


def quick(code: str = "pass", **spec: Any) -> JobSpec:
    return JobSpec(command=[PY, "-c", code], **spec)


async def finished(backend: Any, job_id: str) -> Any:
    async def done() -> Any:
        info = await backend.inspect(job_id)
        return info if info.finished else None
    return await eventually(done, timeout=WAIT, what=f"job {job_id} to finish")


# --- NUL bytes and start failures ---


@pytest.mark.parametrize(("arguments", "field"), [
    ({"command": [PY, "-c", "pass\x00"]}, "command[2]"),
    ({"command": [PY, "-c", "pass"], "env": {"A": "x\x00y"}}, "env.A"),
    ({"command": [PY, "-c", "pass"], "secrets": {"API": "long-enough\x00"}}, "secrets.API"),
    ({"command": [PY, "-c", "pass"], "labels": {"k": "v\x00"}}, "labels.k"),
    ({"script": "/tmp/x\x00.py"}, "script"),
])
async def test_a_nul_byte_is_refused_at_validation_naming_the_field(state_dir: Path, arguments: dict[str, Any],
                                                                     field: str) -> None:
    """Bug: a NUL byte in env or secrets was accepted; the launch raised ValueError, the job stayed RUNNING with no
    process and held its slot. In a command argument the job ended "supervisor process died... killed from
    outside?". Now the call is refused, naming the field, for the dry run and the launch alike, and nothing is made."""
    async with local_client(state_dir) as client:
        for dry_run in (True, False):
            message = await call_error(client, "run_job", dry_run=dry_run, **arguments)
            assert f"{field}: contains a NUL byte" in message, message
            assert "long-enough" not in message
        _, listing = await call(client, "list_jobs")
    assert listing["jobs"] == []
    with pytest.raises(InvalidJobSpec) as raised:
        JobSpec(**{**{"command": [PY]}, **arguments})
    assert raised.value.field == field


async def test_nul_in_a_training_argument_names_the_tools_own_field(state_dir: Path) -> None:
    """Bug (same campaign): a NUL byte in launch_training's fields reached a path or the command unnamed."""
    async with local_client(state_dir) as client:
        message = await call_error(client, "launch_training", model="m\x00", dataset="d", dry_run=True)
    assert "model: contains a NUL byte" in message


async def test_any_error_starting_a_job_ends_it_error_and_frees_its_slot(make_backend) -> None:
    """Bug: the executor caught only OSError around the start; any other error (ValueError for a NUL byte) left the
    job RUNNING without a process, holding its slot, and every later job waited in SCHEDULING. A lone surrogate in
    an env value is such an error still (no OS encoding holds it): the job must end ERROR with the reason, and the
    next job in the one slot must run."""
    backend = await make_backend(slots=1)
    bad = await backend.submit(quick(env={"ODD": "\ud800"}))
    good = await backend.submit(quick("print('ran')"))
    bad_info = await finished(backend, bad.id)
    assert bad_info.stage == JobStage.ERROR
    assert "could not start" in (bad_info.message or "") and "UnicodeEncodeError" in (bad_info.message or "")
    assert (await finished(backend, good.id)).stage == JobStage.COMPLETED


async def test_a_command_the_supervisor_cannot_start_is_not_reported_as_killed(make_backend) -> None:
    """Bug: a command argument the OS refuses (NUL then; a lone surrogate now) ended the job with "supervisor process
    died... killed from outside?": the supervisor's own failure to start the command must read as such."""
    backend = await make_backend()
    info = await finished(backend, (await backend.submit(JobSpec(command=[PY, "-c", "pass", "\ud800"]))).id)
    assert info.stage == JobStage.ERROR
    assert "could not start the command" in (info.message or "")
    assert "killed from outside" not in (info.message or "")


def test_a_supervisor_that_fails_on_its_own_records_it(tmp_path: Path) -> None:
    """Same bug, the supervisor's side: when the supervisor itself fails (here: its job folder is gone, so it cannot
    chdir), it records `supervisor_error` with the reason in exit.json and the log, so the backend says the
    supervisor failed instead of "killed from outside?". Run as the backend runs it: `python -I -S runner.py`."""
    exit_path, log = tmp_path / "exit.json", tmp_path / "log"
    config = {"dir": str(tmp_path / "gone"), "proc": str(tmp_path / "proc.json"), "exit": str(exit_path),
              "argv": [PY, "-c", "pass"], "cwd": str(tmp_path), "timeout": 60, "grace": 1, "secret_names": ["KEY"],
              "scrub": []}
    env = {"PATH": os.environ.get("PATH", ""), CONFIG_VAR: json.dumps(config), "KEY": "a-secret-value"}
    with open(log, "wb") as out:
        done = subprocess.run([PY, "-I", "-S", RUNNER], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=60)
    assert done.returncode != 0
    record = json.loads(exit_path.read_text())
    assert record["reason"] == "supervisor_error" and "FileNotFoundError" in record["error"]
    assert "the job's supervisor failed: FileNotFoundError" in log.read_text()
    assert "a-secret-value" not in log.read_text() + exit_path.read_text()


# --- the database and the state directory ---


def damage(path: Path, *, serving: bool = False) -> None:
    """Overwrite the database in place (same inode, as a disk fault or a stray write would). At rest its WAL goes
    too; under a running server the WAL index stays (SQLite maps it: truncating it would crash the process)."""
    with open(path, "r+b") as f:
        f.write(b"this is not a database " * 400)
    if not serving:
        for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            side.unlink(missing_ok=True)


async def test_a_damaged_database_is_kept_aside_and_rebuilt_from_the_job_folders(
        make_backend, state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Bug: a corrupt jobs.db made every tool answer "failed inside the server (DatabaseError)" with ~320 traceback
    lines on stderr per call. On start the server now keeps the damaged file aside, rebuilds the index from the
    jobs' folders (outcomes and order kept), logs one line, and answers as before."""
    backend = await make_backend()
    done = await backend.submit(quick())
    failed = await backend.submit(quick("raise SystemExit(3)"))
    await finished(backend, done.id)
    await finished(backend, failed.id)
    await backend.aclose()
    damage(state_dir / "jobs.db")

    with caplog.at_level(logging.WARNING):
        async with local_client(state_dir) as client:
            _, listing = await call(client, "list_jobs")
            _, inspected = await call(client, "inspect_job", job_id=failed.id)
    jobs = {job["id"]: job for job in listing["jobs"]}
    assert [job["id"] for job in listing["jobs"]] == [failed.id, done.id]  # newest first, as before
    assert jobs[done.id]["stage"] == "COMPLETED"
    assert inspected["job"]["stage"] == "ERROR" and "code 3" in inspected["job"]["message"]
    kept = list(state_dir.glob("jobs.db.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    lines = [r for r in caplog.records if "rebuilt" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "2 job folders" in lines[0].getMessage()


def malform(path: Path) -> None:
    """Keep the header, overwrite every page after the first: the file opens, and the first query on the jobs
    table fails with "database disk image is malformed"."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(4096)
        f.write(b"\xde\xad" * ((size - 4096) // 2))


def seeded_store(path: Path, jobs: int = 200) -> None:
    store = Store(path)
    for i in range(jobs):
        store.insert(job_id=f"{i:016x}", created_at=1.0, flavor="cpu-basic", labels={"k": "v"}, command=["x"] * 20,
                     timeout=60.0, output_dir="/tmp", secret_names=[], owner=None)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def test_a_query_on_a_damaged_database_names_the_file_and_the_fix_in_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Bug: damage found by a query reached the tool as a bare DatabaseError: "failed inside the server
    (DatabaseError)" and a traceback on stderr per call. Now it is a BackendUnavailable that names the file and
    the command that repairs it, which a tool answers as text, logging nothing."""
    from trl_jobs_mcp.tools.base import SecretBook, translate
    from trl_jobs_mcp.tools.list_jobs import TOOL

    path = tmp_path / "jobs.db"
    seeded_store(path)
    malform(path)
    store = Store(path)  # the header is fine: it opens
    with pytest.raises(StoreDamaged) as raised:
        store.page(stages=None, labels=None, limit=10, before=None)
    store.close()
    with caplog.at_level(logging.DEBUG):
        message = str(translate(TOOL, raised.value, SecretBook()))
    assert str(path) in message and "malformed" in message and "trl-jobs-mcp rebuild-index --home" in message
    assert "DatabaseError" not in message and not caplog.records


async def test_a_database_malformed_past_its_header_is_rebuilt_at_start(make_backend, state_dir: Path) -> None:
    """Same bug, the subtler damage: the file opens but its pages are garbage. The start's quick check finds it and
    rebuilds, rather than every call failing later."""
    backend = await make_backend()
    done = await backend.submit(quick())
    await finished(backend, done.id)
    await backend.aclose()
    path = state_dir / "jobs.db"
    filler = Store(path)  # enough rows that the jobs table spans pages past the first
    for i in range(200):
        filler.insert(job_id=f"{i + 1:016x}", created_at=1.0, flavor="cpu-basic", labels={}, command=["x"] * 20,
                      timeout=60.0, output_dir="/tmp", secret_names=[], owner=None)
    filler.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler.close()
    malform(path)
    backend = await make_backend()
    assert (await backend.inspect(done.id)).stage == JobStage.COMPLETED
    assert list(state_dir.glob("jobs.db.damaged-*"))


async def test_rebuild_index_command_restores_every_outcome(make_backend, state_dir: Path) -> None:
    """The CLI repair the error message points to: `trl-jobs-mcp rebuild-index --home`. A job that never started
    is not run after a rebuild (a cancel before the start leaves no trace in its folder)."""
    backend = await make_backend()
    done = await backend.submit(quick())
    await finished(backend, done.id)
    await backend.aclose()
    never = state_dir / "jobs" / "0000000000000001"
    never.mkdir()
    (never / "spec.json").write_text(json.dumps({"id": never.name, "created_at": 1.0, "argv": [PY], "cwd": "/",
                                                 "output_dir": "/tmp", "secret_names": [],
                                                 "spec": {"timeout": 60, "flavor": "cpu-basic", "labels": {}}}))
    damage(state_dir / "jobs.db")
    out = subprocess.run([console_script(), "rebuild-index", "--home", str(state_dir)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "from 2 job folders" in out.stdout and "damaged-" in out.stdout
    backend = await make_backend()
    assert (await backend.inspect(done.id)).stage == JobStage.COMPLETED
    info = await backend.inspect(never.name)
    assert info.stage == JobStage.ERROR and info.message == NOT_STARTED


@pytest.mark.parametrize("kind", ["a file", "not writable", "missing parent under a file"])
async def test_an_unusable_home_is_named_with_setting_path_and_reason(tmp_path: Path, kind: str) -> None:
    """Bug: an unusable TRL_JOBS_HOME answered "(FileNotFoundError)" on every call. The answer must name the
    setting, the path and the reason."""
    if kind == "a file":
        home = tmp_path / "home"
        home.write_text("x")
        reason = "is a file"
    elif kind == "not writable":
        if os.geteuid() == 0:
            pytest.skip("root writes anywhere")
        tmp_path.joinpath("ro").mkdir(mode=0o500)
        home = tmp_path / "ro" / "home"
        reason = "Permission denied"
    else:
        tmp_path.joinpath("plain").write_text("x")
        home = tmp_path / "plain" / "home"
        reason = "Not a directory"
    async with local_client(home) as client:
        message = await call_error(client, "list_jobs")
    assert "TRL_JOBS_HOME" in message and str(home) in message and reason in message, message
    assert "FileNotFoundError" not in message


def test_an_unusable_home_is_named_at_start_up_in_one_line(tmp_path: Path) -> None:
    """Same bug, at start-up: the server's log says it once, without a traceback."""
    home = tmp_path / "home"
    home.write_text("x")
    log = tmp_path / "stderr"
    # COLUMNS: the SDK logs through rich, which wraps a line at the terminal's width.
    with log.open("wb") as err:
        proc = subprocess.Popen([console_script()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                env={**os.environ, "TRL_JOBS_HOME": str(home), "COLUMNS": "1000"})
    try:
        _initialize(proc)
        # The backend starts once the client's first request after the handshake is answered (issue 25).
        _send(proc, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
        assert _receive(proc)["id"] == 2
        wait_until(lambda: "is a file" in log.read_text(), timeout=30, what="the start-up warning")
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "TRL_JOBS_HOME" in text and str(home) in text and "is a file" in text
    assert "Traceback" not in text


# --- arguments ---


async def test_a_dry_run_refuses_what_the_launch_refuses(state_dir: Path) -> None:
    """Bug: a local run_job dry run accepted `image`, which the launch refuses. Also a missing program."""
    async with local_client(state_dir) as client:
        for arguments in ({"command": [PY, "-c", "pass"], "image": "python:3.12"},
                          {"command": ["surely-not-a-program-here"]}):
            dry = await call_error(client, "run_job", dry_run=True, **arguments)
            real = await call_error(client, "run_job", **arguments)
            assert dry.split(":")[1] == real.split(":")[1]  # "run_job: <field>: ..." the same field
        _, listing = await call(client, "list_jobs")
    assert listing["jobs"] == []


@pytest.mark.parametrize("timeout", [2 ** 64, "100000d", 8 * 86400])
async def test_a_timeout_of_ages_is_refused(state_dir: Path, timeout: Any) -> None:
    """Bug: `timeout` had no upper bound (2^64 s was accepted)."""
    async with local_client(state_dir) as client:
        message = await call_error(client, "run_job", command=[PY, "-c", "pass"], timeout=timeout, dry_run=True)
    assert "timeout:" in message and "7d" in message
    assert parse_timeout("7d") == 7 * 86400


@pytest.mark.parametrize("value", [0, 1, -0.0, 0.0, "false", "true", None])
async def test_boolean_fields_take_booleans_only(state_dir: Path, value: Any) -> None:
    """Bug: boolean fields took 0 and -0.0 as false (so `dry_run: 0` launched a job)."""
    async with local_client(state_dir) as client:
        message = await call_error(client, "run_job", command=[PY, "-c", "pass"], dry_run=value)
        assert "dry_run" in message and "boolean" in message
        message = await call_error(client, "list_hardware", runnable_only=value)
        assert "runnable_only" in message
        _, listing = await call(client, "list_jobs")
    assert listing["jobs"] == []


@pytest.mark.parametrize(("tool", "arguments", "field"), [
    ("run_job", {"command": [PY, "-c", "pass"], "timeout": True}, "timeout"),
    ("run_job", {"command": [PY, "-c", "pass"], "idle_timeout": False}, "idle_timeout"),
    ("launch_training", {"model": "m/x", "dataset": "d/y", "max_steps": True}, "max_steps"),
    ("launch_training", {"model": "m/x", "dataset": "d/y", "learning_rate": True}, "learning_rate"),
    ("launch_training", {"model": "m/x", "dataset": "d/y", "extra_args": {"warmup_steps": True}}, "warmup_steps"),
    ("fetch_logs", {"job_id": "0123456789abcdef", "tail": True}, "tail"),
])
async def test_a_boolean_is_never_taken_as_a_number(state_dir: Path, tool: str, arguments: dict[str, Any],
                                                    field: str) -> None:
    """Bug (issue 23): booleans passed as numbers: run_job(timeout=true) became a one-second job and
    max_steps=true one step. Strict numbers everywhere; the refusal names the field."""
    async with local_client(state_dir) as client:
        message = await call_error(client, tool, **arguments, **({} if tool == "fetch_logs" else {"dry_run": True}))
        _, listing = await call(client, "list_jobs")
    assert f"{field}" in message and ("boolean" in message or "true" in message.lower()), message
    assert listing["jobs"] == []


@pytest.mark.parametrize(("value", "shape"), [
    ("postgres://user:hunter2pass@db.internal/app", "password"),
    ("AKIAIOSFODNN7EXAMPLE", "AWS"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----", "private key"),
    ("ghp_" + "x1Y2z3" * 6, "GitHub"),
    ("github_pat_" + "A1b2C3d4E5" * 3, "GitHub"),
    # issue 23: shapes env still took
    ("sk-proj-" + "a1B2c3D4e5" * 4, "OpenAI"),
    ("glpat-" + "x1y2z3" * 4, "GitLab"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "JSON Web Token"),
    ("AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "Google API key"),
    ("sk_live_" + "a1B2c3D4" * 3, "Stripe"),
])
async def test_credential_shapes_in_env_are_refused_with_a_pointer_to_secrets(state_dir: Path, value: str,
                                                                              shape: str) -> None:
    """Bug: env accepted credentials in a URL and well-known secret shapes; only HF tokens were refused."""
    async with local_client(state_dir) as client:
        message = await call_error(client, "run_job", command=[PY, "-c", "pass"], env={"CONN": value},
                                   dry_run=True)
    assert "env: CONN looks like a credential" in message and shape in message and "secrets" in message
    assert value not in message and "hunter2pass" not in message


@pytest.mark.parametrize("name", ["DB_PASS", "AWS_SECRET_ACCESS_KEY_ID", "SMTP_PASSWD", "GCP_CREDENTIALS",
                                  "OPENAI_APIKEY", "MY_SECRET_FILE_CONTENT"])
async def test_credential_names_in_env_are_refused_with_a_pointer_to_secrets(state_dir: Path, name: str) -> None:
    """Bug (issue 23): env took DB_PASS and AWS_SECRET_ACCESS_KEY_ID: only names ending in a credential word were
    refused."""
    async with local_client(state_dir) as client:
        message = await call_error(client, "run_job", command=[PY, "-c", "pass"], env={name: "plain-value-1"},
                                   dry_run=True)
    assert f"env: {name} looks like a credential (its name)" in message and "secrets" in message


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "PASSAGE_COLUMN", "BYPASS_CACHE", "MAX_TOKENS", "PWD"])
def test_ordinary_env_names_are_not_mistaken_for_credentials(name: str) -> None:
    assert quick(env={name: "1"}).env[name] == "1"


@pytest.mark.parametrize("value", ["https://example.com/a@b", "git@github.com:org/repo.git", "0123abcdef" * 4,
                                   "http://user@host/path", "sk-learn", "task-name-with-many-dashes-1234567890",
                                   "eyJ-not-a-token"])
def test_ordinary_env_values_are_not_mistaken_for_credentials(value: str) -> None:
    assert quick(env={"V": value}).env["V"] == value


# --- stdio ---


def _initialize(proc: subprocess.Popen[bytes]) -> None:
    _send(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert _receive(proc)["id"] == 1
    _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any] | str) -> None:
    line = message if isinstance(message, str) else json.dumps(message)
    proc.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]


def _receive(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> dict[str, Any]:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no answer from the server"
    return json.loads(proc.stdout.readline())  # type: ignore[union-attr]


def _close(proc: subprocess.Popen[bytes]) -> None:
    """End a stdio server as a client does, by closing its input; killed if it does not leave."""
    proc.stdin.close()  # type: ignore[union-attr]
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]


def test_a_lone_surrogate_over_stdio_gets_a_parse_error_not_silence(state_dir: Path) -> None:
    """Bug: over raw stdio a request holding "\\ud800" got no answer; the client waited for its own timeout. The
    SDK's transport drops the line; our stdio answers a JSON-RPC parse error with the request's id."""
    proc = subprocess.Popen([console_script()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TRL_JOBS_HOME": str(state_dir)})
    try:
        _initialize(proc)
        _send(proc, '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_jobs",'
                    '"arguments":{"cursor":"\\ud800"}}}')
        answer = _receive(proc)
        assert answer["id"] == 7 and answer["error"]["code"] == -32700 and "surrogate" in answer["error"]["message"]
        _send(proc, '{"jsonrpc":"2.0","id":"s-1","method":"ping","params":{"x":"\\udfff"}}')
        assert _receive(proc)["id"] == "s-1"
        # A line with no id gets no answer (an "id": null error can start an error storm): it is dropped, and the
        # next request is answered as usual.
        _send(proc, "not json at all")
        _send(proc, {"jsonrpc": "2.0", "id": 8, "method": "ping"})
        assert _receive(proc) == {"jsonrpc": "2.0", "id": 8, "result": {}}
    finally:
        _close(proc)


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def test_every_stdio_request_gets_an_answer_and_a_line_is_bounded(state_dir: Path) -> None:
    """Bugs (issue 23): stdio lines that carry an id got no answer (100,000-deep nesting, a 5,000-digit number,
    JSON that is no JSON-RPC message), and a line's size had no cap (one 300 MB line: 926 MB RSS). Each now gets a
    JSON-RPC error with its id; a line over MAX_LINE_BYTES is answered and never held whole. A tools/call that
    repeats a key (`"dry_run": true, "dry_run": false` launched) is refused naming the key."""
    from trl_jobs_mcp.server.wire import MAX_LINE_BYTES

    proc = subprocess.Popen([console_script()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TRL_JOBS_HOME": str(state_dir)})
    try:
        _initialize(proc)
        deep = "[" * 100_000 + "]" * 100_000
        _send(proc, '{"jsonrpc":"2.0","method":"ping","params":{"a":' + deep + '},"id":21}')
        assert _receive(proc)["id"] == 21
        _send(proc, '{"jsonrpc":"2.0","id":22,"method":"ping","params":{"n":' + "7" * 5000 + "}}")
        assert _receive(proc)["id"] == 22
        _send(proc, '{"jsonrpc":"2.0","id":11,"foo":1}')
        assert _receive(proc)["error"]["code"] == -32600
        _send(proc, '{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"run_job","arguments":'
                    f'{{"command":["{PY}","-c","pass"],"dry_run":true,"dry_run":false}}}}}}')
        refused = _receive(proc)
        assert refused["id"] == 23 and refused["error"]["code"] == -32602 and "'dry_run'" in refused["error"]["message"]
        before = _peak_rss_kib(proc.pid)
        _send(proc, '{"jsonrpc":"2.0","id":24,"method":"ping","params":{"x":"' + "a" * (5 * MAX_LINE_BYTES) + '"}}')
        too_long = _receive(proc)
        assert too_long["id"] == 24 and "at most" in too_long["error"]["message"]
        assert _peak_rss_kib(proc.pid) - before < 2 * MAX_LINE_BYTES // 1024  # it grew by the cap, not the line
        _send(proc, {"jsonrpc": "2.0", "id": 25, "method": "tools/call", "params": {"name": "list_jobs",
                                                                                     "arguments": {}}})
        listed = _receive(proc)
        assert listed["id"] == 25 and listed["result"]["structuredContent"]["jobs"] == []
    finally:
        _close(proc)


# --- a full state folder (issue 23) ---


@pytest.fixture
def small_home(state_dir: Path) -> Any:
    """TRL_JOBS_HOME on a 5 MB tmpfs of its own, unmounted at the end (after the backends close)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 5 MB tmpfs as TRL_JOBS_HOME needs root, and this test run is not root")
    state_dir.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(state_dir)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield state_dir
    subprocess.run(["umount", "-l", str(state_dir)], check=False)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its disk has not one byte left."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


async def test_a_log_past_its_cap_keeps_its_head_and_newest_lines(make_backend) -> None:
    """Bug (issue 23): a job's log grew without bound (20 MB printed filled a 5 MB home). Now it stops at
    TRL_JOBS_LOG_MB: the head, a note where the middle was cut, the newest output; a reader whose offset was past
    the cut goes on from the end instead of being refused."""
    backend = await make_backend(log_mb=1)
    job = await backend.submit(quick("import sys\nfor i in range(60000): sys.stdout.write(f'line {i:06d} ' + 'x' * 89 + "
                                     "'\\n')"))
    info = await finished(backend, job.id)
    log = backend.paths(job.id).log.read_bytes()
    assert len(log) <= 1_000_000 and log.startswith(b"line 000000 ") and log.endswith(b"line 059999 " + b"x" * 89 + b"\n")
    assert log.count(b"the middle of the output is cut here") == 1 and "MB from its middle were cut" in info.message
    kept = [int(line[5:11]) for line in log.splitlines() if line.startswith(b"line ")]
    assert kept == sorted(kept) and len(kept) < 60000  # whole lines, in order, the middle gone
    chunk = await backend.logs(job.id, since=5_000_000)  # an offset a reader held before the cut
    assert chunk.lines == [] and chunk.finished


async def test_a_full_disk_is_named_and_no_job_is_stranded(small_home: Path, make_backend) -> None:
    """Bug: a job printing 20 MB into a 5 MB home stayed RUNNING forever; launches answered "failed inside the
    server (OSError)", cancel "(OperationalError)"; once space was freed the job read "killed from outside?".
    Now each log is capped (head and tail kept, the cut said in the log and by inspect), a full home is named with
    what to free, a cancel still stops the job, and the job's real outcome is recorded once there is room."""
    backend = await make_backend(log_mb=1)
    chatty = await backend.submit(quick("import sys\nfor i in range(200000): sys.stdout.write('x' * 99 + '\\n')\n"
                                        "print('THE END')"))
    info = await finished(backend, chatty.id)
    assert info.stage == JobStage.COMPLETED and "cut" in info.message and "1 MB cap" in info.message
    log = (small_home / "jobs" / chatty.id / "log").read_bytes()
    assert len(log) <= 1_000_000 and log.startswith(b"x" * 99 + b"\n") and log.endswith(b"THE END\n")
    assert b"the middle of the output is cut here" in log

    ticking = await backend.submit(quick("import itertools, time\nfor i in itertools.count():\n"
                                         "    print(i, flush=True); time.sleep(0.02)", timeout="5m"))
    proc_json = small_home / "jobs" / ticking.id / "proc.json"
    await eventually(lambda: "child" in (json.loads(proc_json.read_text()) if proc_json.exists() else {}),
                     timeout=WAIT, what="the job to start")
    supervisor = json.loads(proc_json.read_text())["pid"]
    filler = fill(small_home)
    folders = sorted(p.name for p in (small_home / "jobs").iterdir())

    with pytest.raises(BackendUnavailable) as launch:
        await backend.submit(quick())
    assert str(small_home) in str(launch.value) and "full" in str(launch.value) and "Free space" in str(launch.value)
    assert sorted(p.name for p in (small_home / "jobs").iterdir()) == folders  # nothing half-written left behind
    with pytest.raises(BackendUnavailable) as cancel:
        await backend.cancel(ticking.id)
    assert str(small_home) in str(cancel.value) and "full" in str(cancel.value) and "stop signal" in str(cancel.value)
    await eventually(lambda: not Path(f"/proc/{supervisor}").exists() or
                     Path(f"/proc/{supervisor}/stat").read_text().split()[2] == "Z",
                     timeout=WAIT, what="the cancelled job's supervisor to end")

    filler.unlink()
    ended = await finished(backend, ticking.id)
    assert ended.stage == JobStage.CANCELED and "outside" not in (ended.message or "")
    assert (await finished(backend, (await backend.submit(quick())).id)).stage == JobStage.COMPLETED


# --- a jobs.db deleted or replaced (issue 23) ---


def beating(path: Path) -> JobSpec:
    """A job that rewrites `path` every 20 ms until it is stopped."""
    return quick(f"import pathlib, time\nwhile True:\n    pathlib.Path({str(path)!r}).write_text(str(time.time()))\n"
                 "    time.sleep(0.02)", timeout="5m")


async def stands_still(path: Path) -> None:
    before = path.read_text()
    await holds(lambda: path.read_text() == before, duration=0.2, what=f"{path} to stand still")


async def test_a_deleted_index_is_written_again_from_the_job_folders(make_backend, state_dir: Path,
                                                                    tmp_path: Path) -> None:
    """Bug: jobs.db deleted while the server was stopped: the next start answered "No jobs yet." and a running job
    was out of cancel_job's reach. Now the start adds back every job its folders hold, and adopts the running one."""
    backend = await make_backend()
    done = await backend.submit(quick("raise SystemExit(3)"))
    await finished(backend, done.id)
    running = await backend.submit(beating(tmp_path / "beat"))
    await eventually(lambda: (tmp_path / "beat").exists(), timeout=WAIT, what="the job to beat")
    await backend.aclose()
    for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
        (state_dir / name).unlink(missing_ok=True)

    again = await make_backend()
    jobs = {job.id: job for job in (await again.list()).jobs}
    assert list(jobs) == [running.id, done.id]
    assert jobs[done.id].stage == JobStage.ERROR and "code 3" in (jobs[done.id].message or "")
    assert jobs[running.id].stage == JobStage.RUNNING
    assert (await again.cancel(running.id)).stage == JobStage.CANCELED
    await stands_still(tmp_path / "beat")


async def test_an_index_unlinked_while_serving_keeps_every_job(make_backend, state_dir: Path,
                                                               tmp_path: Path) -> None:
    """Bug: jobs.db unlinked while a server ran: the server went on writing to the deleted file, and every job it
    took afterwards vanished at the next start. Now the next call notices the file is gone (its inode), writes it
    again from the open copy (a queued job stays queued) and goes on there."""
    backend = await make_backend(slots=1)
    blocker = await backend.submit(beating(tmp_path / "beat"))
    await eventually(lambda: (tmp_path / "beat").exists(), timeout=WAIT, what="the blocker to beat")
    queued = await backend.submit(quick())
    (state_dir / "jobs.db").unlink()

    later = await backend.submit(quick())
    assert (state_dir / "jobs.db").exists()
    assert (await backend.inspect(queued.id)).stage == JobStage.SCHEDULING
    await backend.cancel(blocker.id)
    assert (await finished(backend, queued.id)).stage == JobStage.COMPLETED
    assert (await finished(backend, later.id)).stage == JobStage.COMPLETED
    await backend.aclose()

    again = await make_backend()
    stages = {job.id: job.stage for job in (await again.list()).jobs}
    assert stages == {blocker.id: JobStage.CANCELED, queued.id: JobStage.COMPLETED, later.id: JobStage.COMPLETED}



async def test_an_index_replaced_while_serving_gets_the_jobs_it_lacks(make_backend, state_dir: Path) -> None:
    """Issue 23: an older copy of jobs.db put back while a server runs (a restore from a backup) hid every job
    taken since. Now the next call notices the file changed (its inode) and adds what it lacks from the open one."""
    import sqlite3

    backend = await make_backend()
    first = await backend.submit(quick())
    await finished(backend, first.id)
    older = state_dir / "older.db"
    source, copy = sqlite3.connect(state_dir / "jobs.db"), sqlite3.connect(older)
    source.backup(copy)
    copy.close()
    source.close()
    second = await backend.submit(quick())
    await finished(backend, second.id)
    os.replace(older, state_dir / "jobs.db")

    assert {job.id: job.stage for job in (await backend.list()).jobs} == {
        first.id: JobStage.COMPLETED, second.id: JobStage.COMPLETED}
    third = await backend.submit(quick())
    assert (await finished(backend, third.id)).stage == JobStage.COMPLETED
    await backend.aclose()
    again = await make_backend()
    assert [job.id for job in (await again.list()).jobs] == [third.id, second.id, first.id]

# --- job_metrics reads what the log gained, not all of it again (issue 23) ---


class Recording:
    """A real backend, whose `logs` calls are noted (the offset each asked from) on their way through."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.since = backend, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def logs(self, job_id: str, **kwargs: Any) -> Any:
        self.since.append(kwargs.get("since"))
        return await self.backend.logs(job_id, **kwargs)


async def test_job_metrics_reads_only_what_the_log_gained_since_the_last_call(make_backend, tmp_path: Path) -> None:
    """Bug: job_metrics parsed the whole log at every call (a 100 MB log: 22 s and 485 MB). Now each job's parsed
    log is kept and fed from the offset the previous call reached, and gives the curves a full read gives."""
    from trl_jobs_mcp.jobs.analysis.metrics.job import PARSED_LOGS, job_report
    from trl_jobs_mcp.jobs.analysis.metrics.logs import metrics_from_log

    go = tmp_path / "go"
    code = (f"import os, time\nfor i in range(300): print({{'loss': 3 - i / 100, 'epoch': i / 300}}, flush=True)\n"
            f"print('half', flush=True)\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
            "for i in range(300, 500): print({'loss': 3 - i / 100, 'epoch': i / 300})")
    backend = Recording(await make_backend())
    job = await backend.submit(quick(code, timeout="5m"))
    log = backend.paths(job.id).log
    await eventually(lambda: log.exists() and b"half\n" in log.read_bytes(), timeout=WAIT, what="the first half")

    first, _ = await job_report(backend, await backend.inspect(job.id), max_pages=200)
    reached = PARSED_LOGS.offset(backend, job.id)
    assert backend.since == [0] and reached == log.stat().st_size and len(first.series["loss"].values) == 300
    go.touch()
    await finished(backend, job.id)
    backend.since.clear()
    second, _ = await job_report(backend, await backend.inspect(job.id), max_pages=200)
    assert backend.since[0] == reached and PARSED_LOGS.offset(backend, job.id) == log.stat().st_size
    whole = metrics_from_log(log.read_text().splitlines())
    assert second.series["loss"].values == whole.series["loss"].values and len(whole.series["loss"].values) == 500
