"""The entrypoint of every Ray job: `python -m trl_jobs_ray [options] -- argv...` on the cluster's node.

Shipped to the cluster as `trl_jobs_ray/__main__.py` of a small package (see shipped.py), beside a copy of the local
backend's supervisor (`runner.py`), which does the real work: it runs the command in its own process group, makes
itself the child subreaper so detached children stay findable, scrubs secret values from the output before it
reaches Ray's log, enforces the timeout, and on SIGTERM (Ray's stop) or at the end stops every process the job left.

What this file adds for Ray, which has neither a run-time limit nor a secret store and whose stop does nothing to a
job still waiting for resources:

- before anything runs, it looks in the cluster's GCS key-value store for the job's cancel marker (put there by the
  server when the job was canceled while PENDING) and, when found, leaves without running the command;
- secrets are read from the GCS under a one-time key (uploaded by the server as a package, which Ray's REST API
  never gives back) and the key is deleted at once, so they never appear in the job's runtime_env; a command that
  holds a secret's value comes the same way, the entrypoint showing it redacted;
- the timeout and the idle guard come from the command line, so they hold while no server runs; a job past its
  timeout exits TIMEOUT_EXIT after a line that says so, an idle one IDLE_EXIT after the supervisor's line;
- the supervisor's system samples (CPU, memory, GPUs of the job's processes) go beside the job's log in the node's
  Ray log folder (system_file), which the server reads through the state API as it reads the log.

Standard library only, plus `ray._raylet.GcsClient` (present wherever a Ray job runs) when a key is given.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile

if __package__ == "trl_jobs_ray":  # as shipped: trl_jobs_ray/__main__.py beside trl_jobs_ray/runner.py
    runner = importlib.import_module(".runner", __package__)
else:  # read from the source tree (tests)
    from ...supervisor import runner

TIMEOUT_EXIT = 124  # as GNU timeout
CANCELED_EXIT = 125
IDLE_EXIT = 123
TIMEOUT_NOTE = "[trl-jobs] timeout:"
CANCELED_NOTE = "[trl-jobs] canceled:"
OUTPUT_DIR_ENV = "TRL_JOBS_OUTPUT_DIR"


def system_file(job_id: str) -> str:
    """The name of the job's system samples, beside its log in the node's Ray log folder, where the state API serves
    them as it serves the log (by node and file name)."""
    return f"trl-jobs-system-{job_id}.jsonl"


def _beside_log(name: str) -> str | None:
    """`name` in the folder of the log Ray gave us as stdout; None when stdout is not a file."""
    try:
        log = os.readlink("/proc/self/fd/1")
    except OSError:
        return None
    return os.path.join(os.path.dirname(log), name) if os.path.isfile(log) else None


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _gcs():
    from ray._raylet import GcsClient  # pyright: ignore[reportAttributeAccessIssue]  (~0.3 s; never in the server)

    return GcsClient(address=os.environ["RAY_ADDRESS"])


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _script_argv(args: argparse.Namespace, argv: list[str]) -> list[str] | None:
    """`uv run` for a uv script where uv is installed; plain python for a local script that needs nothing more."""
    script, rest = argv[0], argv[1:]
    uv = shutil.which("uv")
    if uv:
        extra = ["--python", args.python] if args.python else []
        return [uv, "run", *extra, *[f"--with={dep}" for dep in args.with_], script, *rest]
    if script.startswith(("http://", "https://")) or args.with_ or args.python:
        _say("[trl-jobs] error: this uv script needs `uv` (a URL, dependencies or a Python version), and uv is not "
             "on PATH on this Ray node. Install uv on the cluster's nodes (https://docs.astral.sh/uv/), or run a "
             "command instead.")
        return None
    return [sys.executable, script, *rest]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trl_jobs_ray")
    parser.add_argument("--job", required=True, help="the job's submission id")
    parser.add_argument("--timeout", type=float, required=True, help="seconds")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--secrets", help="GCS key holding the job's secrets as JSON; deleted once read")
    parser.add_argument("--cancel", help="GCS key whose presence means the job was canceled before it started")
    parser.add_argument("--idle", type=float, help="the idle guard: seconds of silence and idle CPU/GPU before a stop")
    parser.add_argument("--gpu", action="store_true", help="the job has GPUs: idle means its GPUs idle")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between system samples")
    parser.add_argument("--cwd", help="the command's working folder on the node (default: the job's own)")
    parser.add_argument("--script", action="store_true", help="argv is a uv script and its arguments")
    parser.add_argument("--with", dest="with_", action="append", default=[], help="a uv script's dependency")
    parser.add_argument("--python", help="a uv script's Python version")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")

    secrets: dict[str, str] = {}
    if args.secrets or args.cancel:
        try:
            gcs = _gcs()
        except Exception as exc:  # noqa: BLE001 - any failure means the job cannot be run safely
            _say(f"[trl-jobs] error: cannot reach the cluster's GCS from the job ({type(exc).__name__}: {exc}); "
                 "the job's Python must have ray installed (it does on a Ray node unless `python` is another one).")
            return 1
        if args.cancel and gcs.internal_kv_exists(args.cancel.encode(), None):
            gcs.internal_kv_del(args.cancel.encode(), False, None)
            if args.secrets:
                gcs.internal_kv_del(args.secrets.encode(), False, None)
            _say(f"{CANCELED_NOTE} the job was canceled before it started; nothing was run.")
            return CANCELED_EXIT
        if args.secrets:
            raw = gcs.internal_kv_get(args.secrets.encode(), None)
            gcs.internal_kv_del(args.secrets.encode(), False, None)
            if not raw:  # gone, or emptied by a server that saw the job end (leftovers.py)
                _say("[trl-jobs] error: the job's secrets are gone from the cluster (a head restart, the job already "
                     "ended, or a second run of it); nothing was run. Launch the job again.")
                return 1
            payload = json.loads(raw)
            secrets = payload["env"]
            if payload.get("argv"):  # the command held a secret's value: the entrypoint shows it redacted
                command = payload["argv"]
    os.environ.update(secrets)
    os.environ[runner.JOB_ID_VAR] = args.job
    # This Python is the node's Ray's (see shipped.NODE_PYTHON): first on the command's PATH, as an activated venv
    # would be, so that `python` in the command (the training entry module's) is one with what the node installed.
    here = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if here and path.split(os.pathsep)[0] != here:
        os.environ["PATH"] = os.pathsep.join([here, path]) if path else here
    os.environ.setdefault(OUTPUT_DIR_ENV, os.path.join(os.path.expanduser("~"), "trl-jobs", args.job))

    if args.script:
        built = _script_argv(args, command)
        if built is None:
            return 1
        command = built

    tmp = tempfile.mkdtemp(prefix="trl-jobs-ray-")
    try:
        os.environ[runner.CONFIG_VAR] = json.dumps({
            "dir": tmp, "proc": os.path.join(tmp, "proc.json"), "exit": os.path.join(tmp, "exit.json"),
            "grace": args.grace, "timeout": args.timeout, "secret_names": sorted(secrets), "argv": command,
            "cwd": os.path.expanduser(args.cwd) if args.cwd else os.getcwd(),
            "idle": args.idle, "gpu": args.gpu, "sample": args.sample, "metrics": _beside_log(system_file(args.job)),
        })
        runner.main()
        with open(os.path.join(tmp, "exit.json")) as f:
            outcome = json.load(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    reason, code = outcome.get("reason"), outcome.get("returncode")
    if reason == "timeout":
        _say(f"{TIMEOUT_NOTE} the job ran past its timeout of {_duration(args.timeout)} and was stopped. Give it a "
             "longer timeout if it needs more time.")
        return TIMEOUT_EXIT
    if reason == "idle":  # the supervisor wrote why to the log
        return IDLE_EXIT
    if reason == "cancel":
        return 128 + signal.SIGTERM
    if reason == "spawn_error" or code is None:
        return 127
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
