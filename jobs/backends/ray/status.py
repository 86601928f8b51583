"""Ray's job details -> JobInfo: the stage words, the timeout and cancel outcomes the wrapper leaves, and jobs the
cluster forgot (a head restart)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .records import Record
from .wrapper import CANCELED_NOTE, IDLE_EXIT, TIMEOUT_EXIT, TIMEOUT_NOTE
from ...core.flavors import get_flavor
from ...core.guard import IDLE_LINE, idle_message
from ...core.models import TERMINAL_JOB_STAGES, JobInfo, JobStage, format_duration
from ...core.redact import Redactor

STAGES = {
    "PENDING": JobStage.SCHEDULING,
    "RUNNING": JobStage.RUNNING,
    "STOPPED": JobStage.CANCELED,
    "SUCCEEDED": JobStage.COMPLETED,
    "FAILED": JobStage.ERROR,
}
# Metadata keys the backend writes beside the labels; a label may not use the prefix.
META = "trl_jobs."
META_FLAVOR, META_TIMEOUT, META_OUTPUT, META_COMMAND, META_IDLE = (
    f"{META}{k}" for k in ("flavor", "timeout", "output_dir", "command", "idle_timeout"))
_MESSAGE_LINES = 15  # Ray's FAILED message carries up to 20,000 characters of log: keep its head and last lines


def stage_of(details: dict[str, Any], record: Record | None) -> tuple[JobStage, str | None]:
    status = str(details.get("status") or "")
    message = details.get("message")
    stage = STAGES.get(status)
    if stage is None:  # a status newer than this mapping: the job exists, say what Ray said
        return JobStage.RUNNING, f"{status}: {message}" if message else status
    if record is not None and record.canceled is not None and stage is not JobStage.COMPLETED:
        # Canceled here: while PENDING Ray still shows it waiting (and later FAILED or STOPPED), but it will not run.
        if stage is JobStage.SCHEDULING:
            return JobStage.CANCELED, ("Canceled while it waited for resources: it will never run its command (Ray "
                                       "lists it as PENDING until it gets them, then as STOPPED).")
        return JobStage.CANCELED, "Canceled on request; its processes were stopped."
    text = str(message or "")
    if stage is JobStage.ERROR and TIMEOUT_NOTE in text and details.get("driver_exit_code") == TIMEOUT_EXIT:
        timeout = _float((details.get("metadata") or {}).get(META_TIMEOUT))
        limit = format_duration(timeout) if timeout else "its timeout"
        return JobStage.ERROR, (f"hit its timeout of {limit} and was stopped (SIGTERM, then SIGKILL). Give it a "
                                "longer timeout if it needs more time.")
    idle = IDLE_LINE.search(text)
    if stage is JobStage.ERROR and idle and details.get("driver_exit_code") == IDLE_EXIT:
        metadata = details.get("metadata") or {}
        flavor = metadata.get(META_FLAVOR)
        ran = (details.get("end_time") or 0) - (details.get("start_time") or 0)
        return JobStage.ERROR, idle_message(idle_s=int(idle.group(1)) * 60.0, gpu=_gpus(flavor) > 0,
                                            idle_timeout=_float(metadata.get(META_IDLE)) or 0.0, flavor=flavor,
                                            ran_s=max(0.0, ran / 1000), billed=False)
    if CANCELED_NOTE in text:
        return JobStage.CANCELED, "Canceled before it started; nothing was run."
    if stage is JobStage.SCHEDULING and record is None and not message:
        message = "Waiting for resources on the cluster."
    return stage, _short(message)


def job_info(details: dict[str, Any], record: Record | None, *, backend: str, address: str,
             redactor: Redactor) -> JobInfo:
    stage, message = stage_of(details, record)
    metadata = {str(k): str(v) for k, v in (details.get("metadata") or {}).items()}
    command = _command(metadata, details, record)
    started = details.get("start_time") if stage is not JobStage.SCHEDULING else None
    return JobInfo(
        id=str(details["submission_id"]),
        backend=backend,
        stage=stage,
        message=redactor.text(message) if message else None,
        created_at=_time(details.get("start_time")),
        started_at=_time(started),
        finished_at=_time(details.get("end_time")) if stage in TERMINAL_JOB_STAGES else None,
        flavor=metadata.get(META_FLAVOR) or (record.flavor if record else None),
        labels=redactor.mapping(labels_of(metadata)),
        exit_code=details.get("driver_exit_code"),
        command=redactor.argv(command),
        timeout=_float(metadata.get(META_TIMEOUT)) or (record.timeout if record else None),
        output_dir=metadata.get(META_OUTPUT) or (record.output_dir if record else None),
        url=f"{address}/#/jobs/{details['submission_id']}",
    )


def lost_info(record: Record, *, backend: str, address: str, redactor: Redactor) -> JobInfo:
    """A job this server submitted that the cluster no longer knows."""
    last = JobStage(record.last_stage) if record.last_stage else None
    if record.canceled is not None:
        stage = JobStage.CANCELED
    elif last is not None and last in TERMINAL_JOB_STAGES:
        stage = last
    else:
        stage = JobStage.ERROR
    seen = f"last seen {last.value}" if last else "never seen running"
    message = (f"The Ray cluster at {address} no longer knows this job ({seen}): its head was restarted, and Ray "
               "keeps job history only in the head's memory. Its logs are gone with it; relaunch it if it did not "
               "finish.")
    return JobInfo(id=record.id, backend=backend, stage=stage, message=message, created_at=_time(record.created * 1000),
                   flavor=record.flavor, labels=redactor.mapping(record.labels), command=redactor.argv(record.command),
                   timeout=record.timeout, output_dir=record.output_dir)


def labels_of(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if not k.startswith(META)}


def _command(metadata: dict[str, str], details: dict[str, Any], record: Record | None) -> list[str]:
    try:
        command = json.loads(metadata.get(META_COMMAND, "null"))
    except ValueError:
        command = None
    if isinstance(command, list):
        return [str(word) for word in command]
    if record is not None:
        return record.command
    return [str(details.get("entrypoint") or "")]


def _short(message: Any) -> str | None:
    if not message:
        return None
    lines = str(message).rstrip().splitlines()
    if len(lines) <= _MESSAGE_LINES + 1:
        return "\n".join(lines)
    return "\n".join([lines[0], "...", *lines[-_MESSAGE_LINES:]])


def _time(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if isinstance(ms, int | float) and ms > 0 else None


def _gpus(flavor: str | None) -> int:
    try:
        return get_flavor(flavor or "").gpu_count
    except Exception:  # noqa: BLE001 - a flavor this server does not know: count none
        return 0


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
