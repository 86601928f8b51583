"""Run a job again, as it was or with changes, on any backend.

As it was: the backend's own rerun where it has one (Hugging Face's keeps the secrets, which nobody can read
back). With changes, or on a backend without one: the job's stored spec (`run_record`) with the changes applied.
No backend keeps secret values where we can read them, so such a rerun asks for them by name; HF_TOKEN alone is
filled with the server's own token, as a launch does.

`resume=True` continues a training run from its last checkpoint: on this machine from the newest
`checkpoint-N` folder of its output directory; elsewhere from the `last-checkpoint` folder that
hub_strategy="checkpoint" pushed to its hub_model_id, downloaded before training starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ..core.models import TOKEN_PLACEHOLDERS, InvalidJobSpec, JobInfo, JobSpec, RunRecord
from ..recipes.readback import trainer_of
from ..recipes.trl_args import all_trainer_arguments
from .continuation import check_names, continue_to, with_options

if TYPE_CHECKING:
    from ..backends.base import Backend

RERUN_LABEL = "rerun-of"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class RerunPlan:
    job_id: str
    spec: JobSpec
    native: bool = False
    unchanged: bool = False
    notes: list[str] = field(default_factory=list)


def _option(argv: list[str], name: str) -> str | None:
    for i, word in enumerate(argv):
        if word == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(f"--{name}="):
            return word.split("=", 1)[1]
    return None


def latest_checkpoint(output_dir: str | None) -> Path | None:
    """The newest checkpoint-N folder of a local output directory, as Trainer names them."""
    if not output_dir or not Path(output_dir).is_absolute() or not Path(output_dir).is_dir():
        return None
    found = [(int(m.group(1)), p) for p in Path(output_dir).iterdir()
             if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return max(found)[1] if found else None


def _resume(spec: JobSpec, *, runs_here: bool, output_dir: str | None) -> tuple[JobSpec, str]:
    argv = list(spec.command or spec.script_args)
    if _option(argv, "resume_from_checkpoint") is not None:  # a continued run, continued again: from its newest
        argv = [w for i, w in enumerate(argv) if not w.startswith("--resume_from_checkpoint")
                and not (i and argv[i - 1] == "--resume_from_checkpoint")]
        spec = spec.model_copy(update={"command": argv} if spec.command else {"script_args": argv})
    out = _option(argv, "output_dir") or output_dir
    if runs_here:
        checkpoint = latest_checkpoint(out)
        if checkpoint is None:
            raise InvalidJobSpec(f"no checkpoint-N folder in the job's output directory ({out or 'unknown'}): it "
                                 "saved none before it stopped (save_strategy='steps' with a smaller save_steps "
                                 "saves more often). Rerun without resume to start over.", field="resume")
        words = [f"--resume_from_checkpoint={checkpoint}"]
        if spec.command:
            return spec.model_copy(update={"command": [*spec.command, *words]}), f"Resumes from {checkpoint}."
        return spec.model_copy(update={"script_args": [*spec.script_args, *words]}), f"Resumes from {checkpoint}."
    repo = _option(argv, "hub_model_id")
    if not repo or (_option(argv, "push_to_hub") or "false").lower() not in ("true", "1", "yes"):
        raise InvalidJobSpec("the job ran elsewhere and pushed no checkpoints: only a run with push_to_hub=true "
                             "and hub_model_id can resume (its checkpoints go to the Hub as they are saved). Rerun "
                             "without resume to start over.", field="resume")
    local_dir = out or "output"
    # The container starts empty: fetch the pushed last checkpoint, then run the job's own command on top of it.
    fetch = ('uvx --from huggingface_hub hf download "$0" --include "last-checkpoint/*" --local-dir "$1" && '
             'shift && exec "$@"')
    base = list(spec.command) if spec.command else ["uv", "run", *[f"--with={d}" for d in spec.dependencies],
                                                    str(spec.script), *spec.script_args]
    command = ["bash", "-c", fetch, repo, local_dir, *base, f"--resume_from_checkpoint={local_dir}/last-checkpoint"]
    update: dict[str, Any] = {"command": command, "script": None, "script_args": [], "dependencies": [],
                              "python": None}
    if spec.script:
        update["image"] = "ghcr.io/astral-sh/uv:python3.12-bookworm"
    return (spec.model_copy(update=update),
            f"Downloads {repo}'s last-checkpoint (pushed by hub_strategy='checkpoint') and resumes from it.")


async def plan_rerun(backend: Backend, job_id: str, *, flavor: str | None = None, timeout: float | None = None,
                     env: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
                     labels: dict[str, str] | None = None, resume: bool = False, more_steps: int | None = None,
                     changes: dict[str, Any] | None = None) -> RerunPlan:
    """What a rerun of `job_id` will run.

    Raises:
        JobNotFoundError: no such job.
        InvalidJobSpec: (secrets) the job had secrets whose values must be given again; (resume) nothing to
            resume from; (more_steps) a finished run resumed with no more steps; (args) an unknown TRL argument; or a
            change the spec refuses.
    """
    record: RunRecord = await backend.run_record(job_id)
    if more_steps is not None and not resume:
        raise InvalidJobSpec("more steps continue a run from its checkpoint: set resume=true too (or give "
                             "args={'max_steps': ...} to start over with a new total).", field="more_steps")
    changed = (any(v is not None for v in (flavor, timeout, env, labels, more_steps)) or resume or bool(secrets)
               or bool(changes))
    if not changed and backend.traits.native_rerun:
        plan = RerunPlan(job_id=job_id, spec=record.spec, native=True, unchanged=True)
        if not record.timeout_known:
            plan.notes.append("The timeout is the job's own (the Hub does not report it; the cost ceiling shown is "
                              "for the default 30m).")
        return plan
    given = dict(secrets or {})
    missing = [name for name in record.secret_names if name not in given and name != "HF_TOKEN"]
    if missing:
        raise InvalidJobSpec(f"job {job_id} ran with the secrets {', '.join(missing)}, whose values are never "
                             f"stored. Pass them again: secrets={{{', '.join(repr(n) + ': ...' for n in missing)}}}.",
                             field="secrets")
    if "HF_TOKEN" in record.secret_names and "HF_TOKEN" not in given:
        given["HF_TOKEN"] = TOKEN_PLACEHOLDERS[0]  # the server's own token, as the launch had it
    update: dict[str, Any] = {"secrets": given,
                              "labels": {**record.spec.labels, **(labels or {}), RERUN_LABEL: job_id.split("/")[-1]},
                              "env": {**record.spec.env, **(env or {})}}
    if flavor is not None:
        update["flavor"] = flavor
    if timeout is not None:
        update["timeout"] = timeout
    spec = JobSpec.model_validate({**record.spec.model_dump(), **update})
    plan = RerunPlan(job_id=job_id, spec=spec, unchanged=not changed)
    if timeout is None and not record.timeout_known:
        plan.notes.append("The Hub does not report the job's timeout: this rerun gets the default 30m unless you "
                          "pass timeout.")
    info: JobInfo = await backend.inspect(job_id)
    if changes:
        trainer = trainer_of(info)
        tables = await anyio.to_thread.run_sync(lambda: all_trainer_arguments(installed=backend.traits.runs_here))
        plan.spec = with_options(plan.spec, check_names(changes, tables.get(trainer) if trainer else None))
    if resume:
        plan.spec, notes = continue_to(plan.spec, job_id=job_id, checkpoint=latest_checkpoint(info.output_dir),
                                       output_dir=info.output_dir, more_steps=more_steps,
                                       changes=check_names(changes or {}, None))
        plan.notes += notes
        # A job whose paths are ours (a Ray cluster on this machine or a shared filesystem) and whose files stay
        # left its checkpoints where this machine reads them, as a local job does.
        traits = backend.traits
        plan.spec, note = _resume(plan.spec, runs_here=traits.runs_here or (traits.local_paths and traits.keeps_files),
                                  output_dir=info.output_dir)
        plan.notes.append(note)
    return plan


async def submit_rerun(backend: Backend, plan: RerunPlan) -> JobInfo:
    """Start the planned rerun: the backend's own rerun for an unchanged job where it has one, else a submit."""
    if plan.native:
        info = await backend.rerun(plan.job_id)
        if info is not None:
            return info
    return await backend.submit(plan.spec)
