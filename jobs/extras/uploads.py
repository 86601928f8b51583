"""Local data and models for a job that cannot see this machine: what would be uploaded, where, how large, and to
whom it would be visible.

A backend whose jobs run elsewhere (`traits.uploads_local_inputs`) takes a local dataset file or folder, or a local
model folder, only when the person agrees (the tools layer asks them: MCP elicitation, or upload roots they
configured; `upload_local_data` only asks for it), and then copies it into a private repo of the namespace and hands
the job its id. Whatever the consent, credential files are refused (jobs/core/credential_files.py).

Nothing is read in full before consent: a plan walks the folder (bounded, jobs/core/local_tree.py), screens names,
locations and the first bytes of each file, and names the repo after a fingerprint of names, sizes and modification
times, so a second launch with the same data finds the repo and uploads nothing, and changed data gets a new repo.
Only after consent is every byte read: scanned for credentials and hashed in one pass (`verify_upload`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, PrivateAttr

from ..core import credential_files as creds
from ..core.local_tree import MAX_BYTES, MAX_FILES, human_bytes, walk
from ..core.models import InvalidJobSpec

if TYPE_CHECKING:
    from ..backends.base import Backend

Kind = Literal["dataset", "model"]
CONSENT_FIELD = "upload_local_data"
# How much of each file a plan reads for credentials before anyone is asked: key files and .env-like files show
# themselves at their start; the rest is read after consent.
SCAN_BEFORE_CONSENT = 64 * 1024
_SHOWN_NAMES = 20


class LocalUpload(BaseModel):
    """One local input of a job and the private Hub repo that stands for it."""

    field: Kind = Field(description="the launch field this replaces: dataset or model")
    path: str = Field(description="the local file or folder")
    files: int
    bytes: int
    digest: str = Field(description="fingerprint of names, sizes and modification times: the repo's name suffix")
    repo_id: str = Field(description="where it goes: a private repo of the namespace")
    repo_type: Kind
    path_in_repo: str | None = Field(default=None, description="a single file's name in the repo")
    readers: str | None = Field(default=None, description="who can read the private repo")
    sha256: str | None = Field(default=None, description="of the contents, once the user agreed and they were read")
    status: Literal["planned", "uploaded", "already on the Hub"] = "planned"
    url: str | None = None
    # (name in the repo, file, size): exactly what was screened, and so exactly what is uploaded.
    _files: list[tuple[str, Path, int]] = PrivateAttr(default_factory=list)

    def describe(self) -> str:
        what = f"{self.files} file{'s' if self.files != 1 else ''}, {human_bytes(self.bytes)}"
        return f"{self.path} ({what}) -> private {self.repo_type} repo {self.repo_id}"

    def repo_files(self) -> list[tuple[str, Path]]:
        return [(name, file) for name, file, _ in self._files]

    def listing(self, most: int = _SHOWN_NAMES) -> str:
        """The files by name and size, the first `most` of them, for the person asked to agree."""
        shown = [f"{name} ({human_bytes(size)})" for name, _, size in self._files[:most]]
        more = len(self._files) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def local_inputs(*, model: str, dataset: str) -> dict[Kind, Path]:
    """The inputs of a launch that are existing files or folders on this machine (resolved: links followed)."""
    found: dict[Kind, Path] = {}
    for field, value in (("dataset", dataset), ("model", model)):
        path = Path(os.path.expanduser(value))
        if value and path.exists() and (path.is_dir() or field == "dataset"):
            found[field] = path.resolve()  # type: ignore[index]
    return found


def _screen(field: Kind, top: Path, given: Path, target: Path) -> None:
    """Refuse `given` (a file found under `top`; `target` once its links are followed) if it is a credential."""
    why = creds.name_reason(given) or creds.name_reason(target) or creds.location_reason(target)
    if why:
        raise InvalidJobSpec(creds.refusal(given, why, top=top), field=field)


def _screened_files(field: Kind, path: Path) -> list[tuple[str, Path, int]]:
    """(name in the repo, file, size) for a file or a folder, each screened by name, location and first bytes."""
    top_reason = creds.location_reason(path) or creds.name_reason(path)
    if top_reason:
        raise InvalidJobSpec(creds.refusal(path, top_reason, top=path), field=field)
    if path.is_file():
        # One file is one split, "train", as the local backend reads it; the name in the repo says so, so that the
        # Hub's loader does not guess another split from a name such as "test_data.jsonl".
        listed = [(f"train{path.suffix.lower()}", path)]
    else:
        listed = walk(path, field=field, max_files=MAX_FILES, max_bytes=MAX_BYTES)
    found = []
    for name, file in listed:
        target = file.resolve()
        _screen(field, path, file, target)
        if not target.is_file():
            continue  # a fifo or a socket is no data, and reading one would block
        try:
            kind = creds.scan_file(target, limit=SCAN_BEFORE_CONSENT)
            size = target.stat().st_size
        except OSError as exc:
            raise InvalidJobSpec(f"cannot read {file} ({exc.strerror}); fix its permissions or leave it out.",
                                 field=field) from None
        if kind:
            raise InvalidJobSpec(creds.refusal(file, f"it holds {kind}", top=path), field=field)
        found.append((name, target, size))
    return found


def _fingerprint(files: list[tuple[str, Path, int]]) -> str:
    digest = hashlib.sha256()
    for name, file, size in files:
        digest.update(f"{name}\0{size}\0{file.stat().st_mtime_ns}\0".encode())
    return digest.hexdigest()


def plan_upload(field: Kind, path: Path, *, namespace: str) -> LocalUpload:
    """What uploading `path` would take and where it would go; nothing is read past each file's first bytes.

    Raises:
        InvalidJobSpec: (field `field`) a credential file or location, an empty folder, a home folder or the root,
            or more than a launch uploads on its own.
    """
    files = _screened_files(field, path)
    if not files:
        raise InvalidJobSpec(f"{path} is an empty folder: nothing to train on.", field=field)
    digest = _fingerprint(files)
    upload = LocalUpload(field=field, path=str(path), files=len(files), bytes=sum(size for *_, size in files),
                         digest=digest, repo_id=f"{namespace}/trl-jobs-{field}-{digest[:16]}", repo_type=field,
                         path_in_repo=files[0][0] if path.is_file() else None)
    upload._files = files
    return upload


def verify_upload(upload: LocalUpload) -> LocalUpload:
    """After consent: every byte read once, scanned for credentials and hashed; the files must be those planned.

    Raises:
        InvalidJobSpec: a file holds a credential past its first bytes, or the files changed since the plan.
    """
    digest = hashlib.sha256()
    top = Path(upload.path)
    for name, file, size in upload._files:
        try:
            changed = file.stat().st_size != size
            digest.update(name.encode() + b"\0")
            kind = None if changed else creds.scan_file(file, digest=digest)
        except OSError:
            changed, kind = True, None
        if changed:
            raise InvalidJobSpec(f"{file} changed since the upload was planned; nothing was uploaded. Launch again "
                                 "once the data is final.", field=upload.field)
        if kind:
            raise InvalidJobSpec(creds.refusal(file, f"it holds {kind}", top=top) + " Nothing was uploaded.",
                                 field=upload.field)
        digest.update(b"\0")
    verified = upload.model_copy(update={"sha256": digest.hexdigest()})
    verified._files = upload._files
    return verified


def refuse_without_consent(found: dict[Kind, Path], uploads: list[LocalUpload]) -> InvalidJobSpec:
    """The refusal a launch gets for local inputs it was not asked to upload: what would go where, and how to ask."""
    plans = "; ".join(upload.describe() for upload in uploads) or ", ".join(str(p) for p in found.values())
    return InvalidJobSpec(
        f"{' and '.join(found)} {'is' if len(found) == 1 else 'are'} on this machine, which the job cannot reach. "
        f"Set {CONSENT_FIELD}=true to ask the user to upload {'it' if len(found) == 1 else 'them'} first: {plans} "
        "(never public; the same content is uploaded once). Or push it yourself (`hf upload`) and pass the Hub id.",
        field=CONSENT_FIELD)


async def stage_local_inputs(backend: Backend, *, model: str, dataset: str, consent: bool,
                             dry_run: bool) -> list[LocalUpload]:
    """Plan the uploads a launch's local inputs need on `backend` (uploading nothing: see upload_local_inputs).

    `consent` is the call's request to upload (`upload_local_data`), not the person's agreement, which the caller
    obtains between this plan and upload_local_inputs.

    Returns:
        The uploads, empty when the backend's jobs read this machine's files (local) or nothing is local; each
        "planned", or "already on the Hub", with who can read its repo where the backend can tell.

    Raises:
        InvalidJobSpec: local inputs without the request to upload, credential files, or too large to upload.
    """
    # A backend without uploads runs on this machine's files or refuses them itself (the recipe's refusal).
    if not backend.traits.uploads_local_inputs:
        return []
    found = local_inputs(model=model, dataset=dataset)
    if not found:
        return []
    import anyio.to_thread

    namespace = await backend.upload_namespace(dry_run=dry_run or not consent)
    uploads = [await anyio.to_thread.run_sync(lambda f=field, p=path: plan_upload(f, p, namespace=namespace))
               for field, path in found.items()]
    if not consent:
        raise refuse_without_consent(found, uploads)
    checked = list(await backend.upload_inputs(uploads, dry_run=True))
    for planned, seen in zip(uploads, checked):
        seen._files = planned._files
    return checked


async def upload_local_inputs(backend: Backend, uploads: list[LocalUpload]) -> list[LocalUpload]:
    """Once the person agreed to `uploads`: read and check every byte, then upload each to its private repo."""
    import anyio.to_thread

    verified = [upload if upload.status == "already on the Hub"  # nothing of it is sent
                else await anyio.to_thread.run_sync(verify_upload, upload) for upload in uploads]
    return list(await backend.upload_inputs(verified, dry_run=False))
