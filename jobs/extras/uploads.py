"""Local data and models for a job that cannot see this machine: what would be uploaded, where, and how large.

A backend whose jobs run elsewhere (`traits.uploads_local_inputs`) takes a local dataset file or folder, or a local
model folder, only with the user's consent (`upload_local_data=true`), and then copies it into a private repo of the
user's namespace and hands the job its id. The repo is named after a hash of the content, so a second launch with
the same data finds it there and uploads nothing; changed data gets a new repo, and a running job never sees its
input change under it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ..core.models import InvalidJobSpec

if TYPE_CHECKING:
    from ..backends.base import Backend

Kind = Literal["dataset", "model"]
CONSENT_FIELD = "upload_local_data"
# Bounds on what a launch uploads on its own: past these, the user should push it themselves, knowingly.
MAX_FILES = 10_000
MAX_BYTES = 50 * 1024**3
_SKIPPED_DIRS = {".git", "__pycache__", ".cache", ".ipynb_checkpoints"}


class LocalUpload(BaseModel):
    """One local input of a job and the private Hub repo that stands for it."""

    field: Kind = Field(description="the launch field this replaces: dataset or model")
    path: str = Field(description="the local file or folder")
    files: int
    bytes: int
    digest: str = Field(description="sha256 of the names and contents, the repo's name suffix")
    repo_id: str = Field(description="where it goes: a private repo of the namespace")
    repo_type: Kind
    path_in_repo: str | None = Field(default=None, description="a single file's name in the repo")
    status: Literal["planned", "uploaded", "already on the Hub"] = "planned"
    url: str | None = None

    def describe(self) -> str:
        what = f"{self.files} file{'s' if self.files != 1 else ''}, {human_bytes(self.bytes)}"
        return f"{self.path} ({what}) -> private {self.repo_type} repo {self.repo_id}"


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def local_inputs(*, model: str, dataset: str) -> dict[Kind, Path]:
    """The inputs of a launch that are existing files or folders on this machine."""
    found: dict[Kind, Path] = {}
    for field, value in (("dataset", dataset), ("model", model)):
        path = Path(os.path.expanduser(value))
        if value and path.exists() and (path.is_dir() or field == "dataset"):
            found[field] = path.resolve()  # type: ignore[index]
    return found


def _files(path: Path) -> list[tuple[str, Path]]:
    """(name in the repo, file) for a file or a folder, in a stable order; hidden tool folders left out."""
    if path.is_file():
        # One file is one split, "train", as the local backend reads it; the name in the repo says so, so that the
        # Hub's loader does not guess another split from a name such as "test_data.jsonl".
        return [(f"train{path.suffix.lower()}", path)]
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(names):
            file = Path(root) / name
            if file.is_file():
                found.append((file.relative_to(path).as_posix(), file))
            if len(found) > MAX_FILES:
                raise InvalidJobSpec(f"{path} holds more than {MAX_FILES} files, too many to upload with a launch; "
                                     "push it yourself (`hf upload`) and pass the Hub id.", field=CONSENT_FIELD)
    return found


def plan_upload(field: Kind, path: Path, *, namespace: str) -> LocalUpload:
    """Hash `path` (every byte: a model folder takes a while) and name the private repo for it."""
    files = _files(path)
    if not files:
        raise InvalidJobSpec(f"{path} is an empty folder: nothing to train on.", field=field)
    total = sum(file.stat().st_size for _, file in files)
    if total > MAX_BYTES:
        raise InvalidJobSpec(f"{path} is {human_bytes(total)}, more than a launch uploads on its own "
                             f"({human_bytes(MAX_BYTES)}); push it yourself (`hf upload`) and pass the Hub id.",
                             field=CONSENT_FIELD)
    digest = hashlib.sha256()
    for name, file in files:
        digest.update(name.encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    hexdigest = digest.hexdigest()
    return LocalUpload(field=field, path=str(path), files=len(files), bytes=total, digest=hexdigest,
                       repo_id=f"{namespace}/trl-jobs-{field}-{hexdigest[:16]}", repo_type=field,
                       path_in_repo=files[0][0] if path.is_file() else None)


def repo_files(upload: LocalUpload) -> list[tuple[str, Path]]:
    return _files(Path(upload.path))


def refuse_without_consent(found: dict[Kind, Path], uploads: list[LocalUpload]) -> InvalidJobSpec:
    """The refusal a launch gets for local inputs without consent: what would go where, and the field to set."""
    plans = "; ".join(upload.describe() for upload in uploads) or ", ".join(str(p) for p in found.values())
    return InvalidJobSpec(
        f"{' and '.join(found)} {'is' if len(found) == 1 else 'are'} on this machine, which the job cannot reach. "
        f"Set {CONSENT_FIELD}=true to upload {'it' if len(found) == 1 else 'them'} first: {plans} (never public; "
        "the same content is uploaded once). Or push it yourself (`hf upload`) and pass the Hub id.",
        field=CONSENT_FIELD)


async def stage_local_inputs(backend: Backend, *, model: str, dataset: str, consent: bool,
                             dry_run: bool) -> list[LocalUpload]:
    """Plan (and on a real launch, perform) the uploads a launch's local inputs need on `backend`.

    Returns:
        The uploads, empty when the backend's jobs read this machine's files (local) or nothing is local. Each is
        "planned" on a dry run, else "uploaded" or "already on the Hub".

    Raises:
        InvalidJobSpec: (field upload_local_data) local inputs without consent, or too large to upload.
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
    return list(await backend.upload_inputs(uploads, dry_run=dry_run))
