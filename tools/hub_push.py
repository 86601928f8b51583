"""What a launch that pushes to the Hub says and checks first: the account the token acts as can write to
hub_model_id's namespace (else a refusal naming `<user>/<name>`, before a billed run that could only fail at the
push), and whether the pushed repo is private or public."""

from __future__ import annotations

from ..jobs.core.models import BackendUnavailable, InvalidJobSpec
from ..jobs.recipes.readback import push_visibility
from .base import ToolContext


async def check_push(ctx: ToolContext, *, repo_id: str, private: bool | None, dry_run: bool) -> str:
    """The note that names the push (where, private or public, as whom). Raises InvalidJobSpec (field
    hub_model_id) when the backend's token cannot write there; a dry run that cannot ask (no token yet) says so
    instead, and a launch then fails on the token itself, creating nothing."""
    try:
        account = await ctx.backend.hub_account()
    except BackendUnavailable as err:
        if not dry_run:
            raise
        account, unknown = None, f" Who can push there was not checked: {err}"
    else:
        unknown = ""
    if account is not None and (problem := account.refuse_push(repo_id)):
        raise InvalidJobSpec(problem, field="hub_model_id")
    who = f" as {account.user}" if account is not None else ""
    visibility = push_visibility(private is not False)
    public = "" if private is not False else " (the user asked for public)"
    return (f"The trained model will be pushed{who} to https://huggingface.co/{repo_id}, a {visibility}{public}; "
            f"hub_private_repo sets it.{unknown}")
