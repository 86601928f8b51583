"""The Hub's label rules and the `hf jobs ...` command line that launches a spec by hand (no network)."""

from __future__ import annotations

import re

from ...core.models import TOKEN_PLACEHOLDERS, JobSpec, format_duration
from ...core.redact import Redactor

LAUNCH_LABEL = "trl-jobs-launch"
DEFAULT_IMAGE = "python:3.12"
# The Hub's rule for label keys and values: at most 100 characters, letters, digits, dashes and underscores.
_LABEL_OK = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_LABEL_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")
LABEL_MAX = 100


def label_value(value: str) -> str:
    """A label value as the Hub accepts it: every other character becomes '-', cut at 100 ("Qwen/Qwen3-0.6B" ->
    "Qwen-Qwen3-0-6B"). Used on launch and on list filters alike, so a filter finds what a launch labelled."""
    return _LABEL_BAD_CHARS.sub("-", value)[:LABEL_MAX]


def hf_command_line(spec: JobSpec, *, namespace: str | None = None, schedule: str | None = None) -> list[str]:
    """The `hf jobs uv run ...` (script) or `hf jobs run ...` (command) argv that launches `spec` by hand.

    Secrets appear by name only (`-s NAME` reads the value from the environment of whoever runs the line), and any
    secret value that occurs in an argument is replaced with `<redacted>`. The launch label is not included: it is
    made fresh for each launch. With `schedule`, the `hf jobs scheduled (uv) run <schedule> ...` line instead.

    Example:
        >>> shlex.join(hf_command_line(JobSpec(script="https://x/sft.py", script_args=["--lr", "1e-5"])))
        'hf jobs uv run --flavor cpu-basic --timeout 30m -- https://x/sft.py --lr 1e-5'
    """
    redactor = Redactor(spec.secrets.values())
    argv = ["hf", "jobs", *(["scheduled"] if schedule else []), *(["uv", "run"] if spec.script else ["run"]),
            *([schedule] if schedule else [])]
    argv += ["--flavor", spec.flavor, "--timeout", format_duration(spec.timeout)]
    if namespace:
        argv += ["--namespace", namespace]
    secret_names = list(spec.secrets)
    for key, value in spec.env.items():
        if value.strip() in TOKEN_PLACEHOLDERS:
            secret_names.append(key)
        else:
            argv += ["-e", f"{key}={redactor.text(value)}"]
    for name in secret_names:
        argv += ["-s", name]
    for key, value in spec.labels.items():
        argv += ["--label", f"{redactor.text(key)}={label_value(redactor.text(value))}"]
    if spec.script:
        for dependency in spec.dependencies:
            argv += ["--with", dependency]
        if spec.python:
            argv += ["--python", spec.python]
        # `--` so that a script argument that looks like one of hf's own options (--timeout, -e) stays the script's.
        return argv + ["--", spec.script, *redactor.argv(spec.script_args)]
    return argv + ["--", spec.image or DEFAULT_IMAGE, *redactor.argv(spec.command or [])]
