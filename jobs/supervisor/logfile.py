"""The supervisor's files: the job's log (capped, and never the reason a job dies) and exit.json (written into
space claimed at the start, so that a full disk cannot hide how a job ended).

Standard library only, like runner.py, which imports it by path on this machine and as a shipped file on Ray nodes.
"""

from __future__ import annotations

import errno
import json
import os

NOTE = "[trl-jobs]"


def write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# A write that fails for want of room: the job goes on, what it printed meanwhile is counted as lost.
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# exit.json is written into space claimed at the start, so that a full disk cannot hide how the job ended.
_RESERVE = 8192


def reserve_exit(path: str) -> None:
    try:
        with open(f"{path}.reserve", "wb") as f:
            f.write(b" " * _RESERVE)
    except OSError:
        pass  # the disk is already full: exit.json is tried the ordinary way at the end


def write_exit(path: str, data: dict) -> None:
    """exit.json, through the reserve when the disk has no room for a new file (trailing spaces are valid JSON)."""
    text = json.dumps(data).encode()
    try:
        write_json(path, data)
    except OSError as exc:
        if exc.errno not in _NO_ROOM or len(text) > _RESERVE or not os.path.exists(f"{path}.reserve"):
            raise
        with open(f"{path}.reserve", "r+b") as f:
            f.write(text.ljust(_RESERVE))
        os.replace(f"{path}.reserve", path)
    try:
        os.unlink(f"{path}.reserve")
    except OSError:
        pass


class CappedLog:
    """The job's log (our stdout), written only here while the command's output is pumped through us.

    Capped at `cap` bytes (0: no cap): the first half is kept, then a note, then the newest output, which is
    compacted in place (the last quarter of the cap moved up, the file truncated after it) whenever it passes the
    other half; so the file never holds more than `cap` and a cut costs one copy per quarter of the cap written.
    A write the disk has no room for is dropped and counted, never fatal: the job runs on and its end is recorded.
    """

    def __init__(self, cap: int, path: str) -> None:
        self.path = path
        try:
            self.pos, self.seekable = os.lseek(1, 0, os.SEEK_CUR), True
        except OSError:  # a pipe (on a Ray node, Ray's log): nothing to cap
            self.pos, self.seekable, cap = 0, False, 0
        self.cap = cap
        self.head_end = self.pos + cap // 2
        self.tail_at: int | None = None  # where the kept newest output begins, once the cap was reached
        self.cut = 0  # bytes dropped from the middle
        self.lost = 0  # bytes the disk had no room for
        self.last = b"\n"

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.cap and self.tail_at is None and self.pos + len(data) > self.head_end:
            room = max(0, self.head_end - self.pos)
            newline = data.rfind(b"\n", 0, room)
            first = data[:newline + 1] if newline >= 0 else data[:room]
            self._put(first)
            note = (f"{NOTE} this log reached its cap of {self.cap / 1e6:g} MB (TRL_JOBS_LOG_MB): the middle of the "
                    "output is cut here, and only the newest output is kept below.\n").encode()
            self._put(note if self.last == b"\n" else b"\n" + note)
            self.tail_at = self.pos
            data = data[len(first):]
        self._put(data)
        if self.tail_at is not None and self.pos - self.tail_at > self.cap - self.cap // 2 - 512:
            self._compact()

    def _put(self, data: bytes) -> None:
        if not data:
            return
        try:
            write_all(1, data)
            self.last = data[-1:]
        except OSError as exc:
            if exc.errno not in _NO_ROOM:
                raise
            self.lost += len(data)
        if self.seekable:
            self.pos = os.lseek(1, 0, os.SEEK_CUR)  # a partial write moved it part of the way

    def _compact(self) -> None:
        assert self.tail_at is not None
        keep = max(0, self.cap // 4)
        try:
            with open(self.path, "rb") as f:
                f.seek(max(self.tail_at, self.pos - keep))
                kept = f.read(keep)
        except OSError:
            return
        newline = kept.find(b"\n")
        if 0 <= newline < len(kept) - 1:
            kept = kept[newline + 1:]  # start at a whole line
        os.pwrite(1, kept, self.tail_at)  # over pages the file already has: no new space needed
        os.ftruncate(1, self.tail_at + len(kept))
        self.cut += self.pos - self.tail_at - len(kept)
        self.pos = os.lseek(1, self.tail_at + len(kept), os.SEEK_SET)

    def finish(self) -> None:
        if self.lost:
            self._put(f"{NOTE} {self.lost} bytes of output were lost: the disk holding this log was full.\n".encode())
