"""The engine's errors, raised only when a thing cannot be observed or the input is wrong (a failed job is a
result, not an error), and the NUL-byte check every argument goes through. A leaf: it imports nothing of ours, so
every other module of core/ can take it.
"""

from __future__ import annotations

from typing import Any


class JobsError(Exception):
    """Base of the errors the engine raises on purpose; its message is written for the reader to act on."""


class JobNotFoundError(JobsError):
    def __init__(self, job_id: str, message: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message or f"No job with id {job_id!r}. Call list_jobs to see the jobs that exist.")


class InvalidJobSpec(JobsError):
    """Bad input. `field` names the offending field so a caller can point at it.

    Not a ValueError on purpose: pydantic would fold it into a ValidationError and lose `field`.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class BackendUnavailable(JobsError):
    """The backend cannot be reached or refused us (auth, plan, transport)."""


def nul_field(value: Any, path: str) -> str | None:
    """The path of the first string in `value` (strings, lists, dicts: keys too) that holds a NUL byte, or None.

    No argument, environment variable or path can hold one: the OS cuts the string there or the launch raises, so
    such input is refused at validation, naming where it is ("command[2]", "env.FOO"), never by a failed start.
    """
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if found := nul_field(item, f"{path}[{i}]"):
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                return path
            if found := nul_field(item, f"{path}.{key}" if isinstance(key, str) else path):
                return found
    return None


def refuse_nul(data: Any) -> None:
    """Raise InvalidJobSpec naming the first field of `data` (a mapping of arguments) that holds a NUL byte."""
    if not isinstance(data, dict):
        return
    for name, value in data.items():
        if found := nul_field(value, str(name)):
            raise InvalidJobSpec("contains a NUL byte (\\x00), which no command argument, environment variable, "
                                 "label or path can hold. Remove it and send the call again.", field=found)
