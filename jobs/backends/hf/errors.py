"""Errors from the Hub, as the engine's: which ones are worth a retry, and what a user can do about the rest."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

from ...core.models import BackendUnavailable, InvalidJobSpec, JobNotFoundError, JobsError

RETRY_STATUSES = (429, 500, 502, 503, 504)
NO_TOKEN = ("the Hugging Face token is missing or invalid; set HF_TOKEN or run `hf auth login` "
            "(a token with write access: https://huggingface.co/settings/tokens).")
PLAN_HINT = ("Hugging Face Jobs needs a Pro, Team or Enterprise plan, or pre-paid credits "
             "(https://huggingface.co/pricing), and a token allowed to run jobs in that namespace.")


def translate(err: BaseException, *, what: str, scrub: Callable[[str], str], endpoint: str, request_timeout: float,
              namespace: str | None = None, job_id: str | None = None, tries: int = 1) -> BaseException:
    """The error a user can act on, scrubbed of secrets. Unknown exceptions (our bugs) pass through."""
    if isinstance(err, JobsError):
        return err
    where = f" in namespace {namespace!r}" if namespace else ""
    again = f" after {tries} tries" if tries > 1 else ""
    if isinstance(err, LocalTokenNotFoundError):
        return BackendUnavailable(f"Could not {what}: {NO_TOKEN}")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        said = scrub(_server_said(err))
        if status == 401:
            return BackendUnavailable(f"Hugging Face refused to {what} (401): {NO_TOKEN}")
        if status in (402, 403):
            return BackendUnavailable(scrub(
                f"Hugging Face refused to {what}{where} ({status}: {said}). {PLAN_HINT}"))
        if status == 404 and job_id is not None:
            return JobNotFoundError(job_id, scrub(
                f"No job {job_id!r} found{where} on Hugging Face. Call list_jobs to see the jobs there; a job "
                f"of another namespace is written 'namespace/id'."))
        if status == 404:
            return BackendUnavailable(scrub(
                f"Hugging Face has no namespace {namespace!r} to {what} (404: {said}). Check the namespace "
                f"(--namespace or TRL_JOBS_HF_NAMESPACE)."))
        if status in (400, 422):
            return InvalidJobSpec(scrub(f"Hugging Face refused to {what}: {said}"))
        if status == 429:
            return BackendUnavailable(scrub(
                f"Hugging Face is rate-limiting us: could not {what}{again} (429: {said}). Wait a minute, then "
                f"try again."))
        return BackendUnavailable(scrub(
            f"Hugging Face Jobs answered {status} to the request to {what}{where}{again} ({said}). The service "
            f"may be having trouble (https://status.huggingface.co); try again in a minute."))
    if isinstance(err, TimeoutError):
        return BackendUnavailable(
            f"Hugging Face did not answer within {request_timeout:g} s when asked to {what}{again}. The "
            f"service may be slow (https://status.huggingface.co); try again in a minute.")
    if isinstance(err, OfflineModeIsEnabled):
        return BackendUnavailable(f"Could not {what}: HF_HUB_OFFLINE is set; unset it to use Hugging Face Jobs.")
    if isinstance(err, FileNotFoundError):
        return InvalidJobSpec(scrub(f"no such local file: {err}. Give a URL or an existing path."),
                              field="script")
    if isinstance(err, httpx2.TransportError | OSError):
        return BackendUnavailable(scrub(
            f"Could not reach Hugging Face at {endpoint} to {what}{again}: {describe(err)}. Check the "
            f"network (and HF_ENDPOINT), then try again."))
    if isinstance(err, ValueError):
        return InvalidJobSpec(scrub(f"Hugging Face's client refused to {what}: {err}"))
    return err


def retryable(err: BaseException) -> bool:
    if isinstance(err, TimeoutError):
        return True
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return err.response.status_code in RETRY_STATUSES
    return isinstance(err, httpx2.TransportError)


def _server_said(err: HfHubHTTPError) -> str:
    said = err.server_message or str(err).strip().splitlines()[0]
    return said.strip().rstrip(".")


def describe(err: BaseException) -> str:
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return f"{err.response.status_code}: {_server_said(err)}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
