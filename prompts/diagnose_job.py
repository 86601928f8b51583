"""diagnose_job: find out why a job failed (or trains badly) and propose the corrected launch."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

NAME = "diagnose_job"
TITLE = "Diagnose a job"
DESCRIPTION = "Find out why a training job failed or trains badly, and propose the corrected launch."


def diagnose_job(
    job_id: Annotated[str, Field(description="The job's id, as launch_training or list_jobs returned it.")],
) -> str:
    """The conversation starter: evidence first (stage, cause, log, curves), then one corrected launch."""
    return f"""Job {job_id} needs a diagnosis.
1. Call inspect_job with job_id={job_id}: its stage, message and exit code; for a job in ERROR it also names the \
recognised cause (out of memory, bf16 on a CPU, missing module, dataset or model not found, gated model or bad \
token, timeout, NaN) and the fix.
2. Call fetch_logs with job_id={job_id} tail=100 and confirm the cause from the log itself; quote the line that \
shows it.
3. If it trained for some steps, call job_metrics with job_id={job_id}: NaN or divergence points at the learning \
rate; a loss that flattened early at a high value points at the data or the learning rate being too low.
4. Explain in two or three sentences what went wrong, then give the corrected launch_training call (the same \
arguments with the fix applied) and run it with dry_run=true. Do not launch for real without my go-ahead."""
