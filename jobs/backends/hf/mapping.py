"""Between the engine's words and the Hub's: labels going out, jobs coming back."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .command_line import _LABEL_OK, DEFAULT_IMAGE, LAUNCH_LABEL, label_value
from .guard import guarded_launch, unguarded
from ...core.credential_files import credential_file
from ...core.flavors import Flavor, from_hub_hardware, get_flavor
from ...core.models import InvalidJobSpec, JobInfo, JobSpec, JobStage
from ...core.redact import Redactor


def hub_labels(labels: dict[str, str], redactor: Redactor | None = None) -> dict[str, str]:
    """The labels as the Hub stores them; InvalidJobSpec for a key it refuses or one that holds a secret."""
    redactor = redactor or Redactor(())
    out = {}
    for key, value in labels.items():
        if redactor.text(key) != key:
            raise InvalidJobSpec("a label key holds a secret's value; Hugging Face stores labels and shows them "
                                 "on the job's page. Use another key.", field="labels")
        value = redactor.text(value)
        if not _LABEL_OK.match(key) or key == LAUNCH_LABEL:
            raise InvalidJobSpec(f"label key {key!r} is not allowed on Hugging Face: use letters, digits, '-' and "
                                 f"'_' (at most 100), and not {LAUNCH_LABEL!r}.", field="labels")
        out[key] = label_value(value)
    return out


def job_info(job: Any, *, backend: str, namespace: str | None, redactor: Redactor,
             spec: JobSpec | None = None) -> JobInfo:
    """The Hub's job as a JobInfo: its id bare in our own namespace, else 'owner/id'; secrets scrubbed."""
    raw_stage = str(getattr(job.status, "stage", "") or "")
    message = job.status.message
    try:
        stage = JobStage(raw_stage)
    except ValueError:
        # A stage newer than our enum (the CLI already knows "UPDATING"): the job is alive, say what it is.
        stage = JobStage.RUNNING
        message = f"{raw_stage}: {message}" if message else raw_stage
    owner = job.owner.name
    labels = redactor.mapping({k: str(v) for k, v in (job.labels or {}).items() if k != LAUNCH_LABEL})
    return JobInfo(
        id=job.id if owner == namespace else f"{owner}/{job.id}",
        backend=backend,
        stage=stage,
        message=redactor.text(message) if message else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        flavor=str(getattr(job.flavor, "value", job.flavor)) if job.flavor else None,
        labels=labels,
        command=redactor.argv(unguarded([*(job.command or []), *(job.arguments or [])])),
        timeout=spec.timeout if spec else None,
        output_dir=spec.output_dir if spec else None,
        url=job.url,
    )


def hub_flavors(items: Iterable[Any]) -> list[Flavor]:
    """The Hub's hardware list as runnable flavors; empty when none is readable (the caller falls back)."""
    flavors: list[Flavor] = []
    for item in items:
        try:
            flavor = from_hub_hardware(item)
        except ValueError:
            try:
                flavor = get_flavor(str(item.name))  # unreadable live numbers: the catalog's are still right
            except InvalidJobSpec:
                continue
        flavors.append(flavor.model_copy(update={"runnable": True}))
    return flavors


def refuse_shipped_credentials(spec: JobSpec) -> None:
    """run_uv_job uploads every word of a uv script's line that names a file here (the script and any argument):
    refuse one that is a credential file, whatever the call says, naming the file, never its content."""
    for word in [spec.script or "", *spec.script_args] if spec.script else []:
        if len(word) < 1024 and Path(word).is_file():
            why = credential_file(Path(word))
            if why:
                raise InvalidJobSpec(f"{word} would be uploaded with the job, and {why}: refused, whatever the "
                                     "call says. Pass only the script and its own data files.",
                                     field="script" if word == spec.script else "script_args")


def launch_call(api: Any, spec: JobSpec, flavor: Flavor, common: dict[str, Any]) -> Callable[[], Any]:
    """The HfApi call that launches `spec` (arguments bound, not yet called): under the idle guard when the spec
    has one (a command in an image), else as a uv script or a command in an image. `common` holds the arguments
    every launch takes (env, secrets, flavor, timeout, labels, namespace, token)."""
    guarded = guarded_launch(spec, flavor)  # (image, command) under the idle guard
    if guarded is not None:
        return functools.partial(api.run_job, image=guarded[0], command=guarded[1], **common)
    if spec.script:
        refuse_shipped_credentials(spec)
        from huggingface_hub import HfApi

        # run_uv_job is marked experimental and warns on every call; the wrapped function is the same code without
        # a warning that would reach our users (and fail a test run with warnings as errors).
        run_uv = getattr(HfApi.run_uv_job, "__wrapped__", HfApi.run_uv_job)
        return functools.partial(run_uv, api, spec.script, script_args=list(spec.script_args),
                                 dependencies=list(spec.dependencies) or None, python=spec.python, **common)
    return functools.partial(api.run_job, image=spec.image or DEFAULT_IMAGE, command=list(spec.command or []),
                             **common)


def offered_flavor(flavor: str, live: dict[str, Flavor]) -> Flavor:
    """`flavor` as the Hub offers it: from `live` (the hardware list last read, by lower-case name) when there is
    one, else from the catalog. InvalidJobSpec(field="flavor") for a catalog flavor the live list lacks (retired, or
    not yet open to this account), naming what it offers."""
    found = live.get(flavor.strip().lower() if isinstance(flavor, str) else "")
    if found is not None:
        return found.model_copy()
    known = get_flavor(flavor)
    if live:
        offered = sorted(live.values(), key=lambda f: f.price_per_hour)
        raise InvalidJobSpec(f"{known.name!r} is not in Hugging Face Jobs' hardware list right now; it offers "
                             f"{', '.join(f.name for f in offered)}. Pick one of those (list_hardware shows their GPUs "
                             "and prices).", field="flavor")
    return known.model_copy(update={"runnable": True})
