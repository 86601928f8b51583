"""The server's settings: environment variables first, command-line flags over them.

A small dataclass rather than pydantic-settings (not installed): every setting has one environment variable and,
for those a person changes per run, one flag. `Settings.from_env()` reads the environment; the CLI passes its
flags as overrides. A bad value raises SettingsError naming the variable and what it accepts.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..jobs.backends import BACKENDS

TRANSPORTS = ("stdio", "http")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable or flag and what it accepts."""


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from its environment. The table in README.md lists each variable."""

    backend: str = field(default="local", metadata={"env": "TRL_JOBS_BACKEND"})
    home: Path | None = field(default=None, metadata={"env": "TRL_JOBS_HOME"})
    local_slots: int | None = field(default=None, metadata={"env": "TRL_JOBS_LOCAL_SLOTS"})
    log_mb: float | None = field(default=None, metadata={"env": "TRL_JOBS_LOG_MB"})
    read_only: bool = field(default=False, metadata={"env": "TRL_JOBS_READ_ONLY"})
    max_cost_usd: float | None = field(default=None, metadata={"env": "TRL_JOBS_MAX_COST_USD"})
    # A job silent and idle this long is stopped (jobs/guard.py); a launch's idle_timeout overrides it, "off" disables.
    idle_timeout: float | None = field(default=1800.0, metadata={"env": "TRL_JOBS_IDLE_TIMEOUT"})
    hf_token: str | None = field(default=None, repr=False, metadata={"env": "HF_TOKEN"})
    hf_namespace: str | None = field(default=None, metadata={"env": "TRL_JOBS_HF_NAMESPACE"})
    hf_endpoint: str | None = field(default=None, metadata={"env": "HF_ENDPOINT"})
    ray_address: str | None = field(default=None, metadata={"env": "TRL_JOBS_RAY_ADDRESS"})
    ray_token: str | None = field(default=None, repr=False, metadata={"env": "TRL_JOBS_RAY_TOKEN"})
    ray_cluster_env: bool = field(default=False, metadata={"env": "TRL_JOBS_RAY_CLUSTER_ENV"})
    transport: str = field(default="stdio", metadata={"env": "TRL_JOBS_TRANSPORT"})
    host: str = field(default="127.0.0.1", metadata={"env": "TRL_JOBS_HOST"})
    port: int = field(default=8000, metadata={"env": "TRL_JOBS_PORT"})
    auth_token: str | None = field(default=None, repr=False, metadata={"env": "TRL_JOBS_AUTH_TOKEN"})
    log_level: str = field(default="WARNING", metadata={"env": "TRL_JOBS_LOG_LEVEL"})
    tasks: bool = field(default=True, metadata={"env": "TRL_JOBS_TASKS"})
    # Folders whose files a launch may upload to a private Hub repo without asking, for clients that cannot ask the
    # person (no MCP elicitation): the person's consent given ahead, never a tool argument.
    upload_roots: tuple[Path, ...] = field(default=(), metadata={"env": "TRL_JOBS_UPLOAD_ROOTS"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from `environ` (default os.environ); `overrides` that are not None win.

        Raises:
            SettingsError: a value that cannot be used, naming its variable (or flag) and what it accepts.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if f.name == "hf_token" and not raw:
                raw = environ.get("HUGGING_FACE_HUB_TOKEN")  # the older name huggingface_hub still honours
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, source=f.metadata["env"])
        for name, value in overrides.items():
            if name == "upload_roots" and isinstance(value, list | tuple):
                value = os.pathsep.join(str(v) for v in value) or None  # --upload-root, given once per folder
            if value is not None:
                values[name] = _parse(name, value, source="--" + name.replace("_", "-")) if isinstance(value, str) \
                    else value
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that cannot work or are unsafe."""
        if self.backend not in BACKENDS:
            raise SettingsError(f"TRL_JOBS_BACKEND / --backend: {self.backend!r} is not a backend; "
                                f"use one of {', '.join(BACKENDS)}.")
        if self.transport not in TRANSPORTS:
            raise SettingsError(f"--transport: {self.transport!r} is not a transport; use one of "
                                f"{', '.join(TRANSPORTS)}.")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"TRL_JOBS_LOG_LEVEL / --log-level: use one of {', '.join(LOG_LEVELS)}.")
        if not 0 < self.port < 65536:
            raise SettingsError(f"TRL_JOBS_PORT / --port: {self.port} is not a TCP port; use 1 to 65535.")
        if self.local_slots is not None and self.local_slots < 1:
            raise SettingsError("TRL_JOBS_LOCAL_SLOTS / --slots: run at least 1 job at a time; give a number >= 1.")
        if self.log_mb is not None and not (math.isfinite(self.log_mb) and self.log_mb >= 1):
            raise SettingsError("TRL_JOBS_LOG_MB: the cap of each job's log, in MB; give a number of 1 or more.")
        if self.max_cost_usd is not None and not (math.isfinite(self.max_cost_usd) and self.max_cost_usd >= 0):
            raise SettingsError("TRL_JOBS_MAX_COST_USD / --max-cost-usd: give a number of dollars, 0 or more.")
        if self.transport == "http" and not is_loopback(self.host) and not self.auth_token:
            raise SettingsError(
                f"--host {self.host} lets other machines reach this server, so it needs a bearer token: pass "
                "--auth-token TOKEN or set TRL_JOBS_AUTH_TOKEN (clients send 'Authorization: Bearer TOKEN'), "
                "or bind to 127.0.0.1.")

    def backend_settings(self) -> dict[str, Any]:
        """Keyword settings for jobs.backends.make_backend; it keeps those the chosen backend takes."""
        return {"home": self.home, "slots": self.local_slots, "log_mb": self.log_mb,
                "token": self.hf_token, "namespace": self.hf_namespace, "endpoint": self.hf_endpoint,
                "ray_address": self.ray_address, "ray_token": self.ray_token, "ray_cluster_env": self.ray_cluster_env}

    def state_home(self) -> Path:
        """The server's own state directory (TRL_JOBS_HOME, else the platform's user data dir), as the local
        backend's default; the tasks extension keeps its key there on every backend."""
        if self.home is not None:
            return self.home
        import platformdirs

        return Path(platformdirs.user_data_dir("trl-jobs-mcp"))

    def secret_values(self) -> list[str]:
        """Values that must never appear in anything the server returns."""
        return [v for v in (self.hf_token, self.auth_token, self.ray_token) if v]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse(name: str, raw: str, *, source: str) -> Any:
    raw = raw.strip()
    if name == "idle_timeout":
        from ..jobs.core.guard import parse_idle_timeout
        from ..jobs.core.models import InvalidJobSpec

        try:
            return parse_idle_timeout(raw)
        except InvalidJobSpec as exc:
            raise SettingsError(f"{source}: {str(exc).removeprefix('idle_timeout: ')}") from None
    if name == "upload_roots":
        return _upload_roots(raw, source=source)
    try:
        if name == "home":
            return Path(raw).expanduser()
        if name in ("local_slots", "port"):
            return int(raw)
        if name in ("max_cost_usd", "log_mb"):
            return float(raw)
        if name in ("read_only", "tasks", "ray_cluster_env"):
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError(raw)
        if name in ("backend", "transport"):
            return raw.lower()
        if name == "log_level":
            return raw.upper()
    except ValueError:
        expected = {"local_slots": "a whole number such as 2", "port": "a whole number such as 8000",
                    "max_cost_usd": "a number of dollars such as 5 or 0.5", "log_mb": "a number of MB such as 50",
                    "read_only": "1/true/yes/on or 0/false/no/off", "tasks": "1/true/yes/on or 0/false/no/off",
                    "ray_cluster_env": "1/true/yes/on or 0/false/no/off"}[name]
        raise SettingsError(f"{source}: cannot read {raw!r}; give {expected}.") from None
    return raw


def _upload_roots(raw: str, *, source: str) -> tuple[Path, ...]:
    """Existing folders, resolved once (a link swapped later changes nothing), separated by os.pathsep."""
    roots = []
    for part in filter(None, (p.strip() for p in raw.split(os.pathsep))):
        path = Path(part).expanduser()
        if not path.is_dir():
            raise SettingsError(f"{source}: {part!r} is not an existing folder; give folders separated by "
                                f"{os.pathsep!r} (or --upload-root once per folder).")
        roots.append(path.resolve())
    return tuple(roots)
