"""Files that hold credentials, which no upload takes whatever the consent: by name, by location, by content.

A prompt injection needs one call to ask for `~/.ssh` or `/proc/self/environ`, and a person confirming "upload my
data" does not read every name in a folder. So these rules hold even after the user said yes: a file or a folder
that holds one such file is refused, and the refusal names the file (never its content).

The content rules are the credential shapes of jobs/core/redact.py (a private key block, a Hugging Face, AWS, GitHub or
Slack token, a URL with a password) matched on bytes, so a binary weight file is read without decoding.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

from .redact import CREDENTIAL_SHAPES

# A folder of one of these names holds keys, cloud or cluster credentials: refused wherever it is.
_SECRET_DIRS = {".ssh", ".gnupg", ".aws", ".azure", ".kube", ".password-store", ".docker"}
# (parent folder, file) pairs: a name that is innocent elsewhere (config.json, token) but a credential here.
_SECRET_IN = {(".docker", "config.json"), ("gcloud", "credentials.db"), ("gcloud", "access_tokens.db"),
              ("gcloud", "application_default_credentials.json"), ("huggingface", "token"),
              ("huggingface", "stored_tokens"), (".huggingface", "token"), ("aws", "credentials")}
_SECRET_NAMES = re.compile(
    r"^(?:id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?|.*\.(?:pem|key|p12|pfx|jks|keystore|ppk|asc|gpg)"
    r"|\.env(?:\..*)?|\.netrc|_netrc|\.git-credentials|\.pypirc|\.npmrc|\.pgpass|\.htpasswd|\.my\.cnf"
    r"|credentials(?:\.json)?|application_default_credentials\.json|kubeconfig|shadow|gshadow"
    r"|.*service[-_]?account.*\.json)$", re.IGNORECASE)
# The machine's own state and configuration: never data for a training job.
_SYSTEM_ROOTS = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run"))
_CONTENT = tuple((kind, re.compile(pattern.pattern.encode())) for kind, pattern in CREDENTIAL_SHAPES)
# A key block or token straddling two reads is still found: each read keeps this much of the one before.
_OVERLAP = 4096


def _homes() -> set[Path]:
    homes = {Path(os.path.expanduser("~")), Path("/root")}
    for base in ("/home", "/Users"):
        try:
            homes |= {child for child in Path(base).iterdir() if child.is_dir()}
        except OSError:
            pass
    return {h.resolve() for h in homes}


def broad_folder(path: Path) -> str | None:
    """Why `path` (resolved) is no dataset or model at all: the file system's root or a home folder itself."""
    if path == Path(path.anchor):
        return "the root of the file system"
    if path in _homes():
        return "a home folder (it holds keys, tokens and settings, not one dataset)"
    return None


def location_reason(path: Path) -> str | None:
    """Why a file or folder at `path` (resolved) is refused by where it is, or None."""
    for root in _SYSTEM_ROOTS:
        if path == root or root in path.parents:
            return f"it is under {root}, the machine's own state and configuration"
    return broad_folder(path)


def name_reason(path: Path) -> str | None:
    """Why `path` is refused by its name or a folder above it (`.ssh/`, `id_rsa`, `.env`, `.netrc`, ...), or None."""
    parts = path.parts
    for i, part in enumerate(parts):
        if part.lower() in _SECRET_DIRS:
            return f"{part}/ holds credentials"
        parent = parts[i - 1].lower() if i else ""
        if (parent, part.lower()) in _SECRET_IN:
            return f"{parent}/{part} is a credential file"
    if _SECRET_NAMES.match(path.name):
        return f"{path.name!r} is the name of a credential file"
    return None


def content_reason(data: bytes) -> str | None:
    """What credential `data` holds ("a private key"), or None."""
    for kind, pattern in _CONTENT:
        if pattern.search(data):
            return kind
    return None


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def scan_file(path: Path, *, limit: int | None = None, block: int = 1 << 20,
              digest: Digest | None = None) -> str | None:
    """The credential found in the first `limit` bytes of `path` (all of it when None), or None.

    With `digest` (a hashlib object), every byte read is fed to it too, so that one pass both checks and hashes.
    """
    tail = b""
    read = 0
    with path.open("rb") as handle:
        while limit is None or read < limit:
            chunk = handle.read(block if limit is None else min(block, limit - read))
            if not chunk:
                break
            read += len(chunk)
            if digest is not None:
                digest.update(chunk)
            found = content_reason(tail + chunk)
            if found:
                return found
            tail = chunk[-_OVERLAP:]
    return None


def refusal(path: Path, reason: str, *, top: Path) -> str:
    """The sentence a refusal of `path` (inside `top`, the file or folder the call named) says."""
    inside = "" if path == top else f" holds {path.relative_to(top).as_posix() if top in path.parents else path}:"
    return (f"{top}{inside} refused, {reason}. Nothing is uploaded from it, with or without consent. Move the "
            "training data into a folder of its own and pass that folder (or push it yourself and pass the Hub id).")


def credential_file(path: Path, *, scan_limit: int = 10 * 1024 * 1024) -> str | None:
    """Why the single file `path` must not leave this machine (its name, where it is, or what its first `scan_limit`
    bytes hold), or None. For a file a backend ships as it is, such as a uv script's local arguments."""
    target = path.resolve()
    why = name_reason(path) or name_reason(target) or location_reason(target)
    if why:
        return why
    try:
        held = scan_file(target, limit=scan_limit) if target.is_file() else None
    except OSError:
        return None  # unreadable here is unreadable to the uploader too
    return f"it holds {held}" if held else None
