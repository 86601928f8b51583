"""Two small names of the Ray backend: a job's cancel marker's key, and the caller's Hugging Face token."""

from __future__ import annotations

import os

from ...core.models import TOKEN_PLACEHOLDERS, InvalidJobSpec


def cancel_key(job_id: str) -> str:
    """The GCS key whose presence tells the job's wrapper that the job was canceled before it started."""
    return f"gcs://trl_jobs_cancel_{job_id}"


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
