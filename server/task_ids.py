"""Task ids: the job's id and what the task waits for, signed with a key kept in the server's state directory.

A task id is a bearer capability over HTTP (whoever holds it may read and cancel the task), so it must not be
guessable, while job ids may be: the local backend's are a millisecond clock and 16 random bits, and Hugging Face's
are ObjectIds. Signing the job id with an HMAC rather than minting a random token and storing it with the job keeps
the job store the only task store, on any backend, with no backend-specific code: the id carries the job id, and
the key (32 random bytes in `<home>/task-key`, mode 0600, created once) proves this server family issued it. A
server restarted on the same home therefore resolves its earlier tasks; deleting the key revokes them all. A random
label on the job would have needed no key, but labels are shown by list_jobs and inspect_job, so anyone who could
list jobs could have read every task id, and the user would see our token among their labels.

Each call's task is its own: a random nonce in the signed body makes two waits on one job (or one client's wait and
another's) two tasks, so cancelling one leaves the other.

    tj1.<base64url of {"t": tool, "j": job id, "a": arguments that shape the result, "n": nonce}>.<base64url HMAC>
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "tj1"
KEY_FILE = "task-key"
_KEY_BYTES = 32
_MAC_BYTES = 16
_MAX_ID_LENGTH = 1000


@dataclass(frozen=True)
class TaskRef:
    """What a task id names: the tool whose answer the task stands for, the job, that call's arguments that
    shape its final answer (wait_for_job's `until`, `since`, `max_lines`), and the nonce that makes it that call's."""

    tool: str
    job_id: str
    arguments: dict[str, Any] = field(default_factory=dict)
    nonce: str = ""


def load_key(home: Path) -> bytes:
    """The key in `home`/task-key, made (0600, in a 0700 folder if new) by whichever server comes first."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 16:
            # A server that lost the race may read before the winner wrote: read again once it has.
            time.sleep(0.05)
            key = path.read_bytes()
        if len(key) < 16:
            raise RuntimeError(f"{path} is damaged; delete it (tasks issued before become unknown)") from None
        return key
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TaskIds:
    """Issues and checks task ids with the key in `home`, read (or made) on first use, so that building a server
    writes nothing."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._loaded: bytes | None = None

    @property
    def _key(self) -> bytes:
        if self._loaded is None:
            self._loaded = load_key(self._home)
        return self._loaded

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, b"trl-jobs-task\0" + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, ref: TaskRef) -> str:
        """A new task id for `ref` (its nonce drawn here when empty): every call gets a task of its own."""
        body: dict[str, Any] = {"t": ref.tool, "j": ref.job_id, "n": ref.nonce or _b64(secrets.token_bytes(9))}
        if ref.arguments:
            body["a"] = ref.arguments
        payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return f"{PREFIX}.{_b64(payload)}.{_b64(self._mac(payload))}"

    def check(self, task_id: str) -> TaskRef | None:
        """The TaskRef a genuine id names; None for anything else (malformed, forged, another key's)."""
        if not isinstance(task_id, str) or len(task_id) > _MAX_ID_LENGTH:
            return None
        parts = task_id.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        try:
            payload, mac = _unb64(parts[1]), _unb64(parts[2])
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        body = json.loads(payload)
        return TaskRef(tool=body["t"], job_id=body["j"], arguments=body.get("a") or {}, nonce=body.get("n") or "")
