"""Waiting in tests: poll a check with a deadline, and fail saying what was awaited. Never a bare sleep.

`eventually` is for async tests (the event loop keeps running between polls); `wait_until` is for plain code such as a
context manager that starts a server. `holds` is the converse: a check must stay true for a whole window.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")

What = str | Callable[[], str]


def _timed_out(what: What, timeout: float) -> AssertionError:
    described = what() if callable(what) else what
    return AssertionError(f"timed out after {timeout:g}s waiting for {described}")


async def eventually(check: Callable[[], Awaitable[T] | T], *, timeout: float, what: What,
                     interval: float = 0.02) -> T:
    """Call `check` (sync or async) until it returns something truthy; return that.

    Args:
        check: the condition; it may also do work each round (read the next page of a log).
        timeout: seconds before giving up.
        what: what is awaited, for the failure message ("job 3f2a to finish"); a callable is asked only on failure,
            so it can report the state last seen.
        interval: seconds between rounds; 0 for a check that blocks on its own (a long poll).

    Raises:
        AssertionError: `check` was still falsy after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        await anyio.sleep(interval)


def wait_until(check: Callable[[], T], *, timeout: float, what: What, interval: float = 0.02) -> T:
    """`eventually` for code that is not async: blocks the calling thread between rounds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(interval)
    return result


async def holds(check: Callable[[], Awaitable[bool] | bool], *, duration: float, what: str,
                interval: float = 0.02) -> None:
    """Fail as soon as `check` is false; pass if it stayed true for `duration` seconds (a measurement window).

    `what` completes "expected ... for 0.2s": "the heartbeat to stand still".
    """
    start = time.monotonic()
    while True:
        over = time.monotonic() - start > duration  # taken first, so the last check comes after the whole window
        result = check()
        if inspect.isawaitable(result):
            result = await result
        assert result, f"expected {what} for {duration:g}s; it stopped after {time.monotonic() - start:.2f}s"
        if over:
            return
        await anyio.sleep(interval)
