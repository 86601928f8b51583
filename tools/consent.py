"""The person's agreement to upload local files to the Hub: asked through MCP elicitation where the client declares
it, otherwise given ahead by the upload roots the person configured for the server (TRL_JOBS_UPLOAD_ROOTS).

A tool argument the model sets (`upload_local_data`) only asks for an upload; it never stands for the agreement, as
a prompt injection would set it just as easily. The question says exactly what would go where and who could read it.
"""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from ..jobs.core.local_tree import human_bytes
from ..jobs.core.models import InvalidJobSpec
from ..jobs.extras.uploads import CONSENT_FIELD, LocalUpload
from .base import ToolContext

ROOTS_SETTING = "TRL_JOBS_UPLOAD_ROOTS (or --upload-root)"


class UploadAnswer(BaseModel):
    """The form the person fills in: one box to tick."""

    upload: bool = Field(description="Upload these files to the private Hugging Face repo shown above")


def question(uploads: list[LocalUpload]) -> str:
    """What the person reads before agreeing: per input, its path, file count, size, the files, the repo, and who
    can read it."""
    lines = ["A training job on Hugging Face Jobs cannot read this machine. Upload these local files to the Hub?"]
    for upload in uploads:
        readers = upload.readers or "your namespace's members (the namespace could not be checked)"
        lines.append(f"- {upload.field}: {upload.path}: {upload.files} file{'s' if upload.files != 1 else ''}, "
                     f"{upload.listing()}; total {human_bytes(upload.bytes)} -> PRIVATE {upload.repo_type} repo "
                     f"{upload.repo_id}, readable by {readers}.")
    lines.append("Nothing is uploaded unless you agree.")
    return "\n".join(lines)


def _can_elicit(ctx: ToolContext) -> bool:
    request = ctx.request
    if request is None:
        return False
    try:
        capabilities = request.client_capabilities
    except (AttributeError, ValueError, RuntimeError):  # outside a request (a task's background run)
        return False
    return capabilities is not None and capabilities.elicitation is not None


def _under_roots(uploads: list[LocalUpload], roots: tuple[Path, ...]) -> bool:
    return bool(roots) and all(any(Path(u.path) == root or root in Path(u.path).parents for root in roots)
                               for u in uploads)


def _no_way_to_ask(uploads: list[LocalUpload]) -> InvalidJobSpec:
    paths = ", ".join(u.path for u in uploads)
    return InvalidJobSpec(
        f"the user has to agree to upload {paths}, and they cannot be asked on this connection (no MCP "
        f"elicitation), nor is it under a folder they allowed uploads from ({ROOTS_SETTING}). Ask the user to "
        "push it themselves (`hf upload`) and pass the Hub id, or to add its folder to the server's "
        f"{ROOTS_SETTING} and restart it.", field=CONSENT_FIELD)


async def agree_to_uploads(ctx: ToolContext, uploads: list[LocalUpload], *, dry_run: bool) -> str | None:
    """Obtain the person's agreement to `uploads` (on a dry run, only say how it would be obtained).

    Returns:
        A note for the answer: how the agreement was (or would be) given; None when there is nothing to upload.

    Raises:
        ToolError: the person declined or cancelled; nothing was uploaded or created.
        InvalidJobSpec: (field upload_local_data) no way to ask, and the paths are not under the upload roots.
    """
    uploads = [u for u in uploads if u.status != "already on the Hub"]  # nothing of those leaves this machine
    if not uploads:
        return None
    if _can_elicit(ctx):
        if dry_run:
            return "A launch first asks the user to agree to the upload (what, where, who can read it)."
        assert ctx.request is not None
        try:
            answer = await ctx.request.elicit(question(uploads), UploadAnswer)
        # A connection without a back-channel (a 2026-07-28 request, stateless HTTP) cannot carry the question:
        # then only the roots below stand for the person's agreement.
        except Exception:  # noqa: BLE001
            answer = None
        if answer is not None:
            if answer.action == "accept" and answer.data.upload:
                return "The user agreed to the upload."
            raise ToolError(f"The user declined the upload of {', '.join(u.path for u in uploads)} "
                            f"({'cancelled' if answer.action == 'cancel' else 'declined'}): nothing was uploaded "
                            "and no job was created. Ask the user how they want to provide the data (a Hub id "
                            "they push themselves, or another dataset); do not retry the upload unasked.")
    if _under_roots(uploads, ctx.upload_roots):
        return f"Uploads without asking: the files are under a folder the user allowed ({ROOTS_SETTING})."
    raise _no_way_to_ask(uploads)
