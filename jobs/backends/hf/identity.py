"""Who the token acts as, from the Hub's whoami-v2 answer: the user, and the namespaces it can push to."""

from __future__ import annotations

from typing import Any

from ..base import HubAccount

# Organisation roles that may create and write repos (whoami-v2's `roleInOrg`; "read" may not).
WRITE_ROLES = {"admin", "write", "contributor"}


def account_from_whoami(me: dict[str, Any]) -> HubAccount:
    """The account in `me` (huggingface_hub's `whoami()`): a read-only token writes nowhere; otherwise its user and
    the organisations where its role writes. An organisation listed without a role is taken as writable: refusing
    a push the Hub would allow costs the user more than the Hub's own refusal would."""
    user = str(me.get("name") or "")
    token = ((me.get("auth") or {}).get("accessToken") or {})
    if token.get("role") == "read":
        return HubAccount(user=user, writable=())
    orgs = [str(org.get("name")) for org in me.get("orgs") or []
            if org.get("name") and (org.get("roleInOrg") is None or org.get("roleInOrg") in WRITE_ROLES)]
    return HubAccount(user=user, writable=(user, *orgs))
