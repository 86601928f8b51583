"""Checks on a JSON-RPC message as it arrives, before the SDK reads it: duplicate keys, an id to answer, and size.

Shared by the stdio and HTTP transports. JSON leaves a repeated key's meaning open and Python keeps the last value,
so `"dry_run": true, "dry_run": false` launched a job the caller may have meant as a dry run: such a request is
refused. A message the SDK cannot read (too deep, a number too long for pydantic's parser, not JSON-RPC) still
gets an answer when an id can be found at its top level.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mcp_types import INVALID_PARAMS, INVALID_REQUEST, ErrorData, JSONRPCError

MAX_LINE_BYTES = 16 * 2**20
"""The longest message a stdio line may hold; a longer one is answered with an error and never held whole."""
SCAN_CHARS = 2**20
"""How far into a message we look for its id when it cannot be parsed (an id comes first in practice)."""

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')
_INT_ID = re.compile(r"\s*(-?\d{1,18})\s*[,}]")


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen.add(key)
    return dict(pairs)


def duplicate_key(text: str | bytes) -> str | None:
    """The first key that appears twice in one object of the JSON `text`; None when none does (or it is not JSON)."""
    try:
        json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as dup:
        return dup.key
    except (ValueError, RecursionError):
        return None
    return None


def top_level_id(text: str) -> str | int | None:
    """The `id` of a JSON-RPC object in `text` (its first SCAN_CHARS), found without parsing the whole: the text
    may be too deep, too long, or hold a number our parsers refuse. None when there is none to answer."""
    depth, previous = 0, ""
    for match in _TOKEN.finditer(text, 0, min(len(text), SCAN_CHARS)):
        token = match.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
            if depth <= 0:
                return None
        elif token == '"id"' and depth == 1 and previous in "{,":
            rest = text[match.end():match.end() + 300].lstrip()
            if not rest.startswith(":"):
                return None
            rest = rest[1:].lstrip()
            if rest.startswith('"'):
                value = _TOKEN.match(rest)
                try:
                    return json.loads(value.group()) if value else None
                except ValueError:
                    return None
            number = _INT_ID.match(rest)
            return int(number.group(1)) if number else None
        previous = token if token in "{[,:" else "v"
    return None


def usable_id(value: Any) -> str | int | None:
    """`value` if it can be a JSON-RPC request id (a string, or an integer that is not a boolean), else None."""
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def duplicate_key_error(request_id: str | int, key: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=INVALID_PARAMS, message=(
        f"Invalid params: the key {key!r} appears twice in one object, so its value is ambiguous. Send each key "
        "once.")))


def too_long_error(request_id: str | int, size: int) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=INVALID_REQUEST, message=(
        f"Invalid request: the message is over {size} bytes; a line may hold at most {MAX_LINE_BYTES} "
        f"({MAX_LINE_BYTES // 2**20} MiB). Send less in one call (a file path rather than its content).")))
