"""Why an upload of local inputs failed, told apart so that the assistant knows what to do next: a namespace that
does not exist or that the token may not create repos in, a repo that is missing, an endpoint that cannot be
reached. Each says what was created on the Hub before the failure, and names who must act where the assistant
cannot (a server setting is the user's)."""

from __future__ import annotations

import httpx2
from huggingface_hub.errors import (HfHubHTTPError, LocalTokenNotFoundError, RemoteEntryNotFoundError,
                                    RepositoryNotFoundError)

from ...core.models import BackendUnavailable, InvalidJobSpec, JobsError
from ...extras.uploads import CONSENT_FIELD, LocalUpload
from .errors import NO_TOKEN, describe

BY_HAND = "or push the data yourself (`hf upload`) and pass its Hub id"
USER_FIX = ("The user must fix this, not the assistant: start the server with --namespace (TRL_JOBS_HF_NAMESPACE) "
            "set to a namespace the token can write to, and restart it")


def upload_error(err: BaseException, upload: LocalUpload, *, stage: str, endpoint: str) -> BaseException:
    """The error for a failed upload of `upload`. `stage` is how far it got: "create" (asking for the repo:
    nothing created), "files" (the repo exists, maybe empty), "check" (a dry run's look: nothing created)."""
    repo, namespace = upload.repo_id, upload.repo_id.split("/")[0]
    created = ("Nothing was created on the Hub." if stage in ("create", "check") else
               f"The private repo {repo} was created and may hold part of the files; launching again finds it and "
               "uploads what is missing.")
    if isinstance(err, JobsError):
        return err
    if isinstance(err, LocalTokenNotFoundError):
        return BackendUnavailable(f"Could not upload {upload.path}: {NO_TOKEN} {created}")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        status = err.response.status_code
        if status == 401:
            return BackendUnavailable(f"Hugging Face refused the upload to {repo} (401): {NO_TOKEN} {created}")
        if isinstance(err, RemoteEntryNotFoundError):
            return BackendUnavailable(f"Hugging Face lost a file of the upload to {repo} ({describe(err)}). {created} "
                                      "Launch again with the same arguments.")
        if isinstance(err, RepositoryNotFoundError) and stage == "files":
            return BackendUnavailable(f"The repo {repo} was created, then Hugging Face no longer found it "
                                      f"({describe(err)}): deleted meanwhile, or the token lost access. Launch again "
                                      "to create it anew.")
        if stage == "create" and status == 404:
            return InvalidJobSpec(f"Hugging Face has no namespace {namespace!r} to create the private repo {repo} in "
                                  f"({describe(err)}). {created} {USER_FIX}, {BY_HAND}.", field=CONSENT_FIELD)
        if stage == "create" and status == 403:
            return InvalidJobSpec(f"The token may not create repos in {namespace!r} ({describe(err)}). {created} "
                                  f"{USER_FIX} (or give the token write access there), {BY_HAND}.",
                                  field=CONSENT_FIELD)
        return BackendUnavailable(f"Hugging Face answered {describe(err)} to the upload of {upload.path} to {repo}. "
                                  f"{created} Try again in a minute, {BY_HAND}.")
    if isinstance(err, httpx2.TransportError | TimeoutError | ConnectionError):
        return BackendUnavailable(f"Could not reach Hugging Face at {endpoint} to upload {upload.path} to {repo}: "
                                  f"{describe(err)}. {created} Check the network (and HF_ENDPOINT), then launch again.")
    return err
