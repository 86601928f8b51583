"""Local inputs into private Hub repos (create_repo(private=True) + one commit of exactly the screened files), once
per content.

Blocking: the backend runs `upload` in a worker thread.
"""

from __future__ import annotations

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from ...core.models import InvalidJobSpec
from ...extras.uploads import CONSENT_FIELD, LocalUpload


def _url(endpoint: str, upload: LocalUpload) -> str:
    return f"{endpoint}/{'datasets/' if upload.repo_type == 'dataset' else ''}{upload.repo_id}"


def present(api: HfApi, upload: LocalUpload, *, token: str) -> bool:
    """Whether the repo already holds every file of `upload` (it is named after their fingerprint, so same data).

    Raises:
        InvalidJobSpec: the repo exists and is public: we never put a user's data in a public repo, nor train
            from one that someone made public under our name.
    """
    try:
        info = api.repo_info(upload.repo_id, repo_type=upload.repo_type, token=token, files_metadata=False)
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return False
    if not info.private:
        raise InvalidJobSpec(f"the repo {upload.repo_id} exists and is public; local data is only ever uploaded to a "
                             "private repo. Make it private on the Hub (or delete it), then launch again.",
                             field=CONSENT_FIELD)
    have = {sibling.rfilename for sibling in getattr(info, "siblings", None) or []}
    return all(name in have for name, _ in upload.repo_files())


def upload(api: HfApi, upload: LocalUpload, *, token: str, endpoint: str) -> LocalUpload:
    """Create the private repo and upload `upload`'s files, unless the repo already holds them.

    One commit of the files that were screened and agreed to, by name: a file that appeared in the folder since is
    not among them."""
    url = _url(endpoint, upload)
    if present(api, upload, token=token):
        return upload.model_copy(update={"status": "already on the Hub", "url": url})
    api.create_repo(upload.repo_id, repo_type=upload.repo_type, private=True, exist_ok=True, token=token)
    message = f"trl-jobs-mcp: {upload.field} from a local {'file' if upload.path_in_repo else 'folder'}"
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(file))
                  for name, file in upload.repo_files()]
    api.create_commit(repo_id=upload.repo_id, repo_type=upload.repo_type, operations=operations, token=token,
                      commit_message=message, commit_description=f"sha256 {upload.sha256}")
    return upload.model_copy(update={"status": "uploaded", "url": url})


def check(api: HfApi, upload: LocalUpload, *, token: str, endpoint: str) -> LocalUpload:
    """A plan's view: marked "already on the Hub" when a launch would upload nothing."""
    status = "already on the Hub" if present(api, upload, token=token) else "planned"
    return upload.model_copy(update={"status": status, "url": _url(endpoint, upload)})
