"""What a recipe adds for a job that reaches the Hub: inputs staged to private repos, checkpoints pushed as saved,
and the refusal a local path gets where the job cannot read it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.models import InvalidJobSpec
from ..extras.uploads import CONSENT_FIELD

if TYPE_CHECKING:
    from ..backends.base import BackendTraits


def unreachable(path: str, *, field: str, traits: BackendTraits) -> InvalidJobSpec:
    """The refusal for a local model or dataset on a backend whose jobs cannot read this machine: the consent
    field where the backend uploads (jobs/uploads.py does it), else how to push it by hand."""
    where = f"{path!r} is on this machine, which a job on {traits.place} cannot reach."
    if traits.uploads_local_inputs:
        return InvalidJobSpec(f"{where} Set {CONSENT_FIELD}=true to ask the user to upload it to a private "
                              f"{'dataset ' if field == 'dataset' else ''}repo, or pass a Hub id.", field=field)
    how = "`hf upload <user>/<name> <path> --repo-type dataset`" if field == "dataset" else \
        "`hf upload <user>/<name> <folder>`"
    return InvalidJobSpec(f"{where} Push it to the Hub ({how}) and pass the Hub id.", field=field)


def stage_token(secrets: dict[str, str], staged: dict[str, str], traits: BackendTraits) -> None:
    """A job reading an uploaded (private) repo needs the Hugging Face token; `$HF_TOKEN` the backend resolves."""
    if staged and not traits.runs_here and "HF_TOKEN" not in secrets:
        secrets["HF_TOKEN"] = "$HF_TOKEN"


def checkpoint_push(push_to_hub: bool, extra_names: set[str] | list[str]) -> list[str]:
    """With push_to_hub, each checkpoint goes to the Hub as it is saved (the latest also to last-checkpoint/), so
    a run stopped by its timeout or a cancel loses only the steps since, and rerun_job(resume=true) continues."""
    if push_to_hub and "hub_strategy" not in extra_names:
        return ["--hub_strategy=checkpoint"]
    return []
