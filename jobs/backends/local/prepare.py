"""From a JobSpec to what the supervisor starts: the working folder, the argv, the plan held for the monitor.

Everything here checks the spec against this machine (the program exists, uv is there when a script needs
it) and raises InvalidJobSpec before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paths import JobPaths
from ...core.models import REDACTED, InvalidJobSpec, JobSpec, RunRecord
from ...core.redact import Redactor

_PEP723 = re.compile(r"(?m)^# /// script$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


@dataclass
class Plan:
    """What the supervisor needs to start a job. Held in memory for jobs submitted here (secrets included)."""

    argv: list[str]
    cwd: str
    output_dir: str
    timeout: float
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    idle_timeout: float | None = None
    gpu: bool = False  # the flavor has GPUs: the idle guard watches them rather than the CPU


def working_dir(spec: JobSpec, paths: JobPaths, redactor: Redactor) -> Path:
    """Where the command runs: the spec's working_dir (which must exist), else the job's own folder."""
    if not spec.working_dir:
        return paths.root
    cwd = Path(spec.working_dir).expanduser().absolute()
    if not cwd.is_dir():
        raise InvalidJobSpec(f"{redactor.text(str(cwd))!r} is not an existing folder. Create it, or leave "
                             "working_dir out to run in the job's own folder.", field="working_dir")
    return cwd

def command_argv(spec: JobSpec, cwd: Path, redactor: Redactor) -> list[str]:
    """The argv that runs the spec here: its command, or its script through uv (or this Python)."""
    path_var = spec.env.get("PATH", os.environ.get("PATH", os.defpath))
    if spec.command:
        exe = spec.command[0]
        if os.sep in exe:
            found = (cwd / exe).is_file() and os.access(cwd / exe, os.X_OK)
        else:
            found = shutil.which(exe, path=path_var) is not None
        if not found:
            raise InvalidJobSpec(
                f"{redactor.text(exe)!r} is not an executable {'file' if os.sep in exe else 'on PATH'} here "
                f"(working dir {redactor.text(str(cwd))!r}). Give the full path or a program on PATH, e.g. "
                f"{sys.executable!r}.", field="command")
        return list(spec.command)
    script = str(spec.script)
    is_url = script.startswith(("http://", "https://"))
    uv = shutil.which("uv", path=path_var)
    if not is_url:
        local = cwd / Path(script).expanduser()
        if not local.is_file():
            raise InvalidJobSpec(f"{redactor.text(str(local))!r} is not a file.", field="script")
        script = str(local.absolute())
    if uv:
        extra = ["--python", spec.python] if spec.python else []
        return [uv, "run", *extra, *[f"--with={dep}" for dep in spec.dependencies], script, *spec.script_args]
    needs = []
    if is_url:
        needs.append("the script is a URL")
    if spec.dependencies:
        needs.append("it has dependencies")
    elif not is_url and inline_dependencies(Path(script)):
        needs.append("its inline metadata (# /// script) lists dependencies")
    if spec.python and not sys.version.startswith(spec.python):
        needs.append(f"it asks for Python {spec.python}")
    if needs:
        raise InvalidJobSpec(
            f"{' and '.join(needs)}, which takes `uv` to run, and uv is not on PATH here. Install uv "
            "(https://docs.astral.sh/uv/), or give a `command` that runs with the Python already installed.",
            field="script")
    return [sys.executable, script, *spec.script_args]

# --- read ---


def refuse_image(spec: JobSpec) -> None:
    if spec.image:
        raise InvalidJobSpec(
            "the local backend runs commands directly on this machine and does not run container images. Drop "
            "`image` to run the command here, or use the Hugging Face backend (`--backend hf`).", field="image")


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def inline_dependencies(script: Path) -> bool:
    """Whether a PEP 723 `# /// script` block in the file lists dependencies."""
    import tomllib  # only scripts need it; keep it off the server's start-up

    try:
        with open(script, encoding="utf-8", errors="replace") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    match = _PEP723.search(head)
    if not match:
        return False
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in match.group("content").splitlines(keepends=True))
    try:
        return bool(tomllib.loads(content).get("dependencies"))
    except tomllib.TOMLDecodeError:
        return True


def caller_token() -> str:
    """The token `$HF_TOKEN` stands for: HF_TOKEN, else the one `hf auth login` saved (as on Hugging Face Jobs)."""
    from huggingface_hub import get_token  # only for the specs that ask: the server starts without it

    token = get_token()
    if not token:
        raise InvalidJobSpec("`$HF_TOKEN` stands for your Hugging Face token, and none is set here: set HF_TOKEN "
                             "or run `hf auth login`, or pass the value itself as a secret.", field="secrets")
    return token


def run_record(job_id: str, data: dict | None) -> RunRecord:
    """The spec a job was started from, read back from its spec.json (secret values were never written there)."""
    if not data or not isinstance(data.get("spec"), dict):
        raise InvalidJobSpec(f"job {job_id} has no readable spec.json, so it cannot be rerun; launch it again "
                             "with launch_training or run_job.", field="job_id")
    if REDACTED in json.dumps(data["spec"]):
        raise InvalidJobSpec(f"job {job_id}'s command or environment held a secret's value, which was scrubbed "
                             "from what was stored; launch it again with the secret in secrets.", field="job_id")
    spec = JobSpec.model_validate({**data["spec"], "secrets": {}})
    return RunRecord(spec=spec, secret_names=list(data.get("secret_names") or []))
