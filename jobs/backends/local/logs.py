"""Reading a job's log without reading the whole file.

Offsets are byte positions in the log, always at the start of a line. A tail reads backwards from the end in blocks
until it has enough lines, so a 1 GiB log answers as fast as a 1 MiB one. Every call returns at most MAX_LINES lines
and reads at most MAX_BYTES bytes. A line rewritten with '\\r' (a progress bar) comes back as its last state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...core.models import InvalidJobSpec

MAX_LINES = 2000
MAX_BYTES = 1 << 20
_BLOCK = 1 << 16


@dataclass
class LogRead:
    lines: list[str]
    next_since: int
    truncated: bool
    at_end: bool  # nothing after next_since (as of this read)


def last_state(line: bytes) -> str:
    """What a terminal would show for a line that was rewritten with carriage returns."""
    line = line.rstrip(b"\r")
    cut = line.rfind(b"\r")
    if cut >= 0:
        line = line[cut + 1:]
    return line.decode("utf-8", errors="replace")


def read_log(path: Path, *, tail: int | None = None, since: int | None = None, done: bool = False,
             max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> LogRead:
    """Lines of a log: the last `tail` ones (after `since` when given too), or all those after `since`.

    Args:
        tail: how many lines from the end. A line still being written (no newline yet, like a live progress bar)
            is included as the last one, but `next_since` stays before it so it is read again once complete.
        since: a byte offset previously returned as `next_since`; 0 is the start.
        done: the writer has finished, so a last line without a newline is complete.

    Raises:
        InvalidJobSpec: a negative tail or since, or a since beyond the end of the log.
    """
    if tail is not None and tail < 0:
        raise InvalidJobSpec(f"must be 0 or more lines, got {tail}.", field="tail")
    if since is not None and since < 0:
        raise InvalidJobSpec(f"must be an offset of 0 or more (a next_since from an earlier call), got {since}.",
                             field="since")
    start = since or 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if start:
            raise InvalidJobSpec(f"{start} is beyond the end of the log (it is empty).", field="since") from None
        return LogRead([], 0, False, True)
    with f:
        size = os.fstat(f.fileno()).st_size
        if start > size:
            raise InvalidJobSpec(f"{start} is beyond the end of the log ({size} bytes). Use a next_since returned "
                                 "by an earlier call, or a tail.", field="since")
        if tail is None:
            return _forward(f, start, done, max_lines, max_bytes)
        return _backward(f, start, size, tail, done, max_lines, max_bytes, after=since is not None)


def _forward(f, start: int, done: bool, max_lines: int, max_bytes: int) -> LogRead:
    f.seek(start)
    data = f.read(max_bytes)
    more = len(data) == max_bytes and f.read(1) != b""
    truncated = more
    end = data.rfind(b"\n") + 1
    if (done and not more) or (end == 0 and more):
        # The writer is gone, so the last line is whole; or one line is longer than a whole read: return it cut.
        end = len(data)
    lines = data[:end].split(b"\n")
    if data[:end].endswith(b"\n") or not end:
        lines.pop()
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        end = sum(len(line) + 1 for line in lines)
        truncated = True
    return LogRead([last_state(line) for line in lines], start + end, truncated,
                   at_end=not more and end == len(data))


def _backward(f, start: int, size: int, tail: int, done: bool, max_lines: int, max_bytes: int, *,
              after: bool) -> LogRead:
    want = min(tail, max_lines)
    floor = max(start, size - max_bytes)
    low, blocks, newlines = size, [], 0
    while low > floor and newlines <= want:
        step = min(_BLOCK, low - floor)
        low -= step
        f.seek(low)
        block = f.read(step)
        blocks.append(block)
        newlines += block.count(b"\n")
    window = b"".join(reversed(blocks))
    last_newline = window.rfind(b"\n")
    complete, partial = window[:last_newline + 1], window[last_newline + 1:]
    lines = complete.split(b"\n")[:-1] if complete else []
    if low > start and lines:
        f.seek(low - 1)
        if f.read(1) != b"\n":
            lines.pop(0)  # the window began inside a line
    if partial:
        lines.append(partial)
    next_since = low + len(window) if done else low + len(complete)
    # Lines left out count as truncation when the caller asked for everything after an offset, or more lines than
    # the bounds allow; a plain tail leaving out the lines before it is what was asked for.
    truncated = (tail > max_lines or (len(lines) < want and low > start)
                 or (after and (low > start or len(lines) > want)))
    kept = lines[max(0, len(lines) - want):] if want else []
    return LogRead([last_state(line) for line in kept], next_since, truncated, at_end=next_since >= size)


def newest_lines(path: Path, max_bytes: int) -> list[str]:
    """The lines of the last `max_bytes` of a file (the first may be cut); none when it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
            return f.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []
