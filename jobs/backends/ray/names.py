"""What the Ray backend's names look like: a job's id as given, its cancel marker's key, and the caller's token."""

from __future__ import annotations

import os

from ...core.models import TOKEN_PLACEHOLDERS, InvalidJobSpec


def cancel_key(job_id: str) -> str:
    """The GCS key whose presence tells the job's wrapper that the job was canceled before it started."""
    return f"gcs://trl_jobs_cancel_{job_id}"


def plain_id(job_id: str) -> str:
    """`job_id` as Ray's submission id, refused when it cannot be one (it goes into URL paths)."""
    ref = (job_id or "").strip()
    if not ref or any(c in ref for c in "/?#% ") or len(ref) > 200:
        raise InvalidJobSpec(f"{job_id!r} is not a Ray submission id; use the id list_jobs shows.", field="job_id")
    return ref


def caller_token() -> str:
    """This machine's Hugging Face token, for a spec that asks for `$HF_TOKEN`; refused when there is none."""
    from huggingface_hub import (
        get_token,  # only for the specs that ask: the server starts without it
    )

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise InvalidJobSpec(f"{TOKEN_PLACEHOLDERS[0]} stands for your Hugging Face token, and none is set here: "
                             "set HF_TOKEN or run `hf auth login`, or pass the value itself as a secret.",
                             field="secrets")
    return token
