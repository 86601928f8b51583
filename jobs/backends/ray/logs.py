"""Reading a Ray job's log in O(what is returned), through the state API (RayClient.log_file).

Ray's agent serves the last N lines of a log file by seeking back from its end, or the whole file from its start; it
serves no byte range and says nothing of the file's size. So `since`, opaque to callers, takes two forms:

- under ANCHOR, a count of lines already seen: what a read forward from the start returns (it streams the file
  from its start, stopping once a page is full, so it costs the lines before `since` plus the page);
- from ANCHOR up, the end of a tail, named by the content of its last two lines (a tail cannot count the lines
  before it without reading them). A read after it asks for a growing tail until the anchor is in it, so following
  a running job costs what it wrote since. Should the same two lines come again later, the later place is taken.

A line still being written (no newline yet) is returned, but `since` stays before it, so that it is read again
once whole; once the job has ended it is whole.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from ...core.models import InvalidJobSpec
from .client import RayClient

ANCHOR = 10**15  # as many as 10**15 anchors stay under 2**53, so a client that reads JSON numbers as floats keeps them
_WIDEST = 1 << 18  # the most lines a read after an anchor asks for (~20 MB of 80-byte lines) before giving up


@dataclass
class Read:
    lines: list[str]
    next_since: int
    truncated: bool
    at_end: bool


def anchor(before: str | None, last: str) -> int:
    """The `since` that names the place after `last` (and the line `before` it; None at the log's start)."""
    digest = hashlib.sha256(f"{before is None}\0{before or ''}\0{last}".encode()).digest()
    return ANCHOR + int.from_bytes(digest[:8], "big") % ANCHOR


def _text(line: bytes) -> str:
    """What a terminal shows of a line rewritten with carriage returns (a progress bar): its last state."""
    line = line.rstrip(b"\r")
    return line[line.rfind(b"\r") + 1:].decode("utf-8", errors="replace")


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[tuple[str, bool], None]:
    """(line, whole) pairs; the last one is not whole when the file does not end with a newline."""
    rest = b""
    async for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield _text(part), True
    if rest:
        yield _text(rest), False


async def read_file(client: RayClient, *, node_id: str, name: str, lines: int = 50_000) -> list[str]:
    """The last `lines` lines of `name` in the node's Ray log folder (the supervisor's samples: a few MB at most)."""
    return [line async for line, whole in split_lines(client.log_file(None, node_id=node_id, lines=lines,
                                                                       filename=name)) if whole]


class LogReader:
    """One job's log on its node. `finished`: the job has ended, so nothing more will be written."""

    def __init__(self, client: RayClient, job_id: str, node_id: str, *, finished: bool, max_lines: int) -> None:
        self._client, self._job, self._node = client, job_id, node_id
        self._finished = finished
        self._max = max_lines

    async def read(self, *, tail: int | None, since: int | None) -> Read:
        if since is not None and since >= ANCHOR:
            return await self._after_anchor(since, tail)
        if tail is not None and since is None:
            return await self._tail(tail)
        return await self._forward(since or 0, tail)

    async def _window(self, n: int) -> tuple[list[str], str | None]:
        """The last `n` lines: (whole lines, a last line still being written or None)."""
        whole, partial = [], None
        async for line, complete in split_lines(self._client.log_file(self._job, node_id=self._node, lines=max(1, n))):
            if complete or self._finished:
                whole.append(line)
            else:
                partial = line
        return whole, partial

    async def _tail(self, tail: int) -> Read:
        # Lines beyond those shown: one for the anchor's line before the last, one for a line still being written.
        width = tail + 3
        whole, partial = await self._window(width)
        shown = [*whole, *([partial] if partial is not None else [])]
        if len(shown) < width:  # fewer than asked: the window is the whole log, and its lines can be counted
            since = len(whole)
        else:
            since = anchor(whole[-2], whole[-1])
        return Read(lines=shown[len(shown) - tail:] if tail else [], next_since=since, truncated=False, at_end=True)

    async def _forward(self, start: int, tail: int | None) -> Read:
        seen = 0
        truncated = False
        chosen: deque[str] | list[str] = deque(maxlen=tail) if tail is not None else []
        partial = None
        stream = split_lines(self._client.log_file(self._job, node_id=self._node, lines=-1))
        try:
            async for line, complete in stream:
                if not complete and not self._finished:
                    partial = line
                    break
                seen += 1
                if seen <= start:
                    continue
                if tail is not None:
                    truncated = truncated or len(chosen) == tail  # a tail after `since` that skips lines says so
                    if tail:
                        chosen.append(line)
                    continue
                if len(chosen) == self._max:
                    truncated, seen = True, seen - 1
                    break
                chosen.append(line)
        finally:
            await stream.aclose()  # stops the download where the page ends
        lines = list(chosen)
        if partial is not None and not truncated and tail is None:
            lines.append(partial)  # shown, and read again once whole
        next_since = seen if tail is not None else start + len(chosen)
        return Read(lines=lines, next_since=next_since, truncated=truncated, at_end=not truncated)

    async def _after_anchor(self, since: int, tail: int | None) -> Read:
        width = 4 * max(self._max, tail or 0)
        while True:
            whole, partial = await self._window(width)
            everything = len(whole) + (partial is not None) < width
            found = next((i for i in range(len(whole) - 1, -1, -1)
                          if (i > 0 or everything) and anchor(whole[i - 1] if i else None, whole[i]) == since), None)
            if found is not None or everything or width >= _WIDEST:
                break
            width *= 4
        if found is None and everything:
            raise InvalidJobSpec(f"{since} is not a place in this job's log: pass a next_since that fetch_logs "
                                 "returned for this job, or a tail.", field="since")
        limit = tail if tail is not None else self._max
        if found is None:
            # More was written since than the widest read takes: the newest lines, saying that some were skipped.
            shown = whole[len(whole) - limit:] if limit else []
            return Read(lines=[*shown, *([partial] if partial is not None else [])],
                        next_since=anchor(whole[-2], whole[-1]), truncated=True, at_end=True)
        new = whole[found + 1:]
        if tail is not None:
            shown = new[len(new) - tail:] if tail else []
            end = len(whole)
        else:
            shown = new[:limit]
            end = found + 1 + len(shown)
        cut = len(shown) < len(new)
        next_since = anchor(whole[end - 2] if end > 1 else None, whole[end - 1]) if end > found + 1 else since
        at_end = tail is not None or not cut
        lines = shown + ([partial] if partial is not None and at_end else [])
        return Read(lines=lines, next_since=next_since, truncated=cut, at_end=at_end)
