"""The engine's vocabulary: what to run (JobSpec), what it is now (JobInfo), and the errors.

The words are Hugging Face Jobs' own (stages, flavors, timeouts written as "30m"), so that a user who knows
`hf jobs` reads our results without a glossary, and both backends report the same enum.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The errors and durations live in leaf modules (so that guard, flavors and redact can take them without a circle);
# they are re-exported here, where the vocabulary is read.
from .durations import DEFAULT_TIMEOUT, MAX_TIMEOUT_S, TIMEOUT_FORMS, format_duration, parse_timeout
from .errors import BackendUnavailable, InvalidJobSpec, JobNotFoundError, JobsError, nul_field, refuse_nul
from .guard import parse_idle_timeout
from .redact import MIN_SECRET_LENGTH, REDACTED, Redactor, credential_shape

__all__ = [
    "DEFAULT_TIMEOUT", "MAX_TIMEOUT_S", "REDACTED", "TERMINAL_JOB_STAGES", "TIMEOUT_FORMS", "BackendUnavailable",
    "InvalidJobSpec", "JobInfo", "JobNotFoundError", "JobPage", "JobSpec", "JobStage", "JobsError", "LogChunk",
    "RunRecord", "format_duration", "nul_field", "parse_timeout", "refuse_nul",
]


class JobStage(str, Enum):
    SCHEDULING = "SCHEDULING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"
    ERROR = "ERROR"
    DELETED = "DELETED"


TERMINAL_JOB_STAGES = (JobStage.COMPLETED, JobStage.CANCELED, JobStage.ERROR, JobStage.DELETED)

# How many secrets one job may carry: each is scrubbed from everything the job's answers hold.
MAX_SECRETS = 64

# A value that stands for the caller's Hugging Face token, as `hf jobs` spells it.
TOKEN_PLACEHOLDERS = ("$HF_TOKEN", "${HF_TOKEN}")
# Environment variable names that hold credentials: such a variable belongs in secrets, not env.
# A name ending in one of the words, or holding one as a whole `_` part (DB_PASS, AWS_SECRET_ACCESS_KEY_ID).
CREDENTIAL_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_?KEY|ACCESS_KEY)$|(?:^|_)(?:PASS|PASSWD|PASSWORD|PASSPHRASE|"
                             r"SECRETS?|CREDENTIALS?|PRIVATE_KEY|API_?KEY|ACCESS_KEY|AUTH_TOKEN)(?:_|$)",
                             re.IGNORECASE)


# --- what to run ---

_LABEL_KEY_MAX = 63


class JobSpec(BaseModel):
    """What to run, independent of where.

    Either `command` (an argv list, optionally inside a Docker `image`) or `script` (a uv script: a URL or local
    path, with `script_args` and `dependencies`) is set, never both. `secrets` reach the job's environment and
    nowhere else: no backend writes their values to disk, and every output path scrubs them.
    """

    model_config = ConfigDict(extra="forbid")

    command: list[str] | None = Field(default=None, description="argv of the job's process; no shell")
    image: str | None = Field(default=None, description="Docker image to run `command` in")
    script: str | None = Field(default=None, description="a uv script: URL or local path")
    script_args: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list, description="extra packages for a uv script, or for a "
                                    "command where the backend installs them (Ray's runtime environment)")
    python: str | None = Field(default=None, description="Python version for a uv script")
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    flavor: str = "cpu-basic"
    timeout: float = Field(default_factory=lambda: parse_timeout(None), description="seconds; accepts '30m' forms")
    idle_timeout: float | None = Field(default=None, description="seconds of silence and idle GPU/CPU before the "
                                                                 "job is stopped; None: no idle guard")
    labels: dict[str, str] = Field(default_factory=dict)
    workers: int = Field(default=1, ge=1, le=1024, description="training processes, each with the flavor's hardware; "
                         "more than one runs across nodes, on a backend whose traits say multi_node")
    working_dir: str | None = None
    output_dir: str | None = Field(default=None, description="where the job writes its results, if it has one")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        refuse_nul(data)
        return data

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return parse_timeout(value)

    @field_validator("idle_timeout", mode="before")
    @classmethod
    def _idle_timeout(cls, value: Any) -> float | None:
        return parse_idle_timeout(value, minimum=0.0)

    @field_validator("env", "secrets")
    @classmethod
    def _env_names(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise InvalidJobSpec(
                    f"{name!r} is not an environment variable name; use letters, digits and _ (not first).",
                    field=info.field_name,
                )
        return value

    @field_validator("env")
    @classmethod
    def _no_credentials_in_env(cls, value: dict[str, str]) -> dict[str, str]:
        # env values are shown and stored (spec.json, `hf jobs` lines, the Hub's job page); a credential there would
        # be too. The message names the variable, never its value.
        for name, text in value.items():
            if text.strip() in TOKEN_PLACEHOLDERS:
                continue  # the caller's token, moved to secrets by with_token
            shape = "its name" if CREDENTIAL_NAME.search(name) else credential_shape(text)
            if shape:
                raise InvalidJobSpec(f"{name} looks like a credential ({shape}); pass it in secrets instead of env "
                                     "so its value is never shown or stored.", field="env")
        return value

    @field_validator("secrets")
    @classmethod
    def _scrubbable_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_SECRETS:
            raise InvalidJobSpec(f"at most {MAX_SECRETS} entries, got {len(value)}. Pass only the variables this job "
                                 "reads.", field="secrets")
        for name, text in value.items():
            if 0 < len(text.strip()) < MIN_SECRET_LENGTH:  # stripped: that is how most programs print a token
                raise InvalidJobSpec(
                    f"{name}'s value is shorter than {MIN_SECRET_LENGTH} characters, too short to scrub from logs "
                    "without mangling them, so it could show up there. Use a longer value, or pass it in env if it "
                    "is not secret.", field="secrets")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or len(key) > _LABEL_KEY_MAX:
                raise InvalidJobSpec(f"label keys must be 1 to {_LABEL_KEY_MAX} characters, got {key!r}.",
                                     field="labels")
        return value

    @model_validator(mode="after")
    def _one_entry_point(self) -> JobSpec:
        if bool(self.command) == bool(self.script):
            raise InvalidJobSpec("give either a command (a list of arguments) or a script, not both and not neither.",
                                 field="command")
        if self.image and self.script:
            raise InvalidJobSpec("a uv script brings its own image; drop `image` or run a `command` in it.",
                                 field="image")
        return self

    @model_validator(mode="after")
    def _no_secret_in_argv(self) -> JobSpec:
        # A process's argv is readable by every user of the machine (ps, /proc/PID/cmdline) for the job's whole
        # life, and hf and ray store it; the scrubber cannot help there. The environment is private to the job.
        for name, value in self.secrets.items():
            if value.strip() in TOKEN_PLACEHOLDERS:
                continue  # `$HF_TOKEN` in a command is the shell reading the environment: what we ask for
            redactor = Redactor([value])
            for field, argv in (("command", self.command or []), ("script_args", self.script_args)):
                at = next((i for i, arg in enumerate(argv) if redactor.text(arg) != arg), None)
                if at is not None:
                    flag = Redactor(self.secrets.values()).text(argv[at - 1]) if at else ""
                    after = f" (after {flag})" if flag.startswith("-") else ""
                    raise InvalidJobSpec(
                        f"argument {at}{after} holds the value of secret {name}; a command line is visible to "
                        f"anyone on the machine (ps) while the job runs. Leave the value out of the command and "
                        f"read it from the environment variable {name} instead (os.environ['{name}'], or ${name} "
                        "in a shell).", field=field)
        return self

    @property
    def wants_token(self) -> bool:
        """Whether an env or secret value is a `$HF_TOKEN` placeholder for the caller's token."""
        return any(v.strip() in TOKEN_PLACEHOLDERS for v in (*self.env.values(), *self.secrets.values()))

    def with_token(self, token: str) -> JobSpec:
        """This spec with every `$HF_TOKEN` placeholder replaced by `token`.

        A placeholder in `env` moves to `secrets`: a token is a secret wherever the user wrote it, so it must be
        scrubbed from logs and never written down.
        """
        env, secrets = {}, {}
        for key, value in self.env.items():
            if value.strip() in TOKEN_PLACEHOLDERS:
                secrets[key] = token
            else:
                env[key] = value
        for key, value in self.secrets.items():
            secrets[key] = token if value.strip() in TOKEN_PLACEHOLDERS else value
        return self.model_copy(update={"env": env, "secrets": secrets})

    def redacted_command(self) -> list[str]:
        """The argv a reader may see: the command (or `uv run script args`) with secret values replaced."""
        if self.command:
            argv = list(self.command)
        else:
            argv = ["uv", "run", *[f"--with={d}" for d in self.dependencies], str(self.script), *self.script_args]
        return Redactor(self.secrets.values()).argv(argv)


class RunRecord(BaseModel):
    """What a job ran, as far as its backend kept it: the spec without secret values, and their names."""

    spec: JobSpec = Field(description="secrets empty: no backend keeps their values where we can read them")
    secret_names: list[str] = Field(default_factory=list)
    timeout_known: bool = Field(default=True, description="false when the backend did not keep the timeout")


# --- what it is now ---


class JobInfo(BaseModel):
    """A job as a backend sees it now. Every string in it is already scrubbed of secret values."""

    id: str
    backend: str
    stage: JobStage
    message: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    flavor: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    exit_code: int | None = None
    command: list[str] = Field(default_factory=list, description="with secret values redacted")
    timeout: float | None = Field(default=None, description="seconds")
    output_dir: str | None = Field(default=None, description="where the job's results are, when known")
    url: str | None = None

    @property
    def finished(self) -> bool:
        return self.stage in TERMINAL_JOB_STAGES


class JobPage(BaseModel):
    jobs: list[JobInfo]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page; None at the end")


class LogChunk(BaseModel):
    """A bounded piece of a job's log.

    `next_since` is an opaque offset: pass it back as `since` to read only what came after. `finished` is true once
    the job is terminal and everything it wrote has been returned.
    """

    lines: list[str]
    next_since: int
    finished: bool
    truncated: bool = Field(default=False, description="more lines were available than were returned")
